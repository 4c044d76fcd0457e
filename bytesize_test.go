package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/proxy"
)

// TestBodiesBudgetFlag: --bodies-budget sets the content budget of serve and demo, 64MiB by
// default; a value that is no size, or under 1MiB, is a usage error.
func TestBodiesBudgetFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int64
	}{
		{nil, proxy.DefaultContentBudget},
		{[]string{"--bodies", "full", "--bodies-budget", "256MiB"}, 256 << 20},
		{[]string{"--bodies-budget=1 GiB", "--bodies", "full"}, 1 << 30},
		{[]string{"--bodies-budget", "1048576"}, 1 << 20},
	} {
		var got proxy.LogOptions
		app := &cli.App{Flags: logFlags(), Action: func(c *cli.Context) (err error) {
			got, err = logOptions(c)
			return err
		}}
		if err := app.Run(append([]string{"popwire"}, tt.args...)); err != nil || got.ContentBudget != tt.want {
			t.Errorf("%q: content budget %d, %v; want %d", tt.args, got.ContentBudget, err, tt.want)
		}
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, tt := range []struct{ value, why string }{
		{"64MB", `--bodies-budget: "64MB" is not a size`},
		{"64", "--bodies-budget must be at least 1MiB"},
		{"0", "--bodies-budget must be at least 1MiB"},
		{"9999999TiB", "is too large"},
	} {
		for _, cmd := range []string{"serve", "demo"} {
			var out, errb bytes.Buffer
			code := run([]string{"popwire", cmd, "--listen", "127.0.0.1:0", "--bodies", "full", "--bodies-budget", tt.value}, &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), tt.why) {
				t.Errorf("%s --bodies-budget %q: exit %d, stderr %q; want 2 and %q", cmd, tt.value, code, errb.String(), tt.why)
			}
		}
	}
}
