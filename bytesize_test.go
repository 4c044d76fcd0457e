package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/proxy"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "64MiB": 64 << 20, "64 MiB": 64 << 20, "64mib": 64 << 20, " 512KiB ": 512 << 10,
		"2GiB": 2 << 30, "1TiB": 1 << 40, "100B": 100, "8388607TiB": 8388607 << 40,
	} {
		if got, err := parseSize(in); got != want || err != nil {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"": "not a size", "MiB": "not a size", "64MB": "not a size", "64M": "not a size", "1.5GiB": "not a size",
		"-1MiB": "not a size", "+1MiB": "not a size", "64 MiB x": "not a size", "0x10": "not a size",
		"8388608TiB": "too large", "9223372036854775808": "too large",
	} {
		if got, err := parseSize(in); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("parseSize(%q) = %d, %v; want an error saying %q", in, got, err, why)
		}
	}
}

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
