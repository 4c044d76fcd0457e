package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// openEvent is a JSON log line that opens session id.
func openEvent(id string) string {
	return `{"v":1,"time":"2025-03-14T09:26:54Z","session":"` + id + `","kind":"open","client":"127.0.0.1:51234",` +
		`"listener":"plain","upstream":"pop.example.net:995","client_sec":"plaintext","upstream_sec":"tls"}` + "\n"
}

// TestFlagsAnywhere runs every command with flags after, between and before its arguments,
// with "--" ending the flags, and checks that each flag took effect or was refused.
func TestFlagsAnywhere(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Chdir(t.TempDir())
	for name, data := range map[string]string{"a.jsonl": openEvent("sess-one") + openEvent("sess-two"), "--json": openEvent("sess-dash"), "help": openEvent("sess-help"), "h": openEvent("sess-h")} {
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	tests := []struct {
		args       []string
		code       int
		wantStdout []string
		notStdout  []string
		wantStderr string
	}{
		{[]string{"view", "a.jsonl", "--json", "--session", "sess-one"}, 0, []string{`"session":"sess-one"`}, []string{"sess-two"}, ""},
		{[]string{"view", "--json", "a.jsonl", "--session=sess-two"}, 0, []string{`"session":"sess-two"`}, []string{"sess-one"}, ""},
		{[]string{"view", "--summary", "a.jsonl", "--json"}, 0, []string{`"session":"sess-one"`, `"session":"sess-two"`}, nil, ""},
		{[]string{"view", "a.jsonl", "--", "--json"}, 0, []string{"sess-one", "sess-dash"}, []string{`"v":1`}, ""},
		{[]string{"view", "--session", "sess-dash", "--", "--json", "a.jsonl"}, 0, []string{"sess-dash"}, []string{"sess-one", `"v":1`}, ""},
		{[]string{"view", "--", "help"}, 0, []string{"sess-help"}, []string{"USAGE"}, ""},
		{[]string{"view", "h", "--json"}, 0, []string{`"session":"sess-h"`}, []string{"USAGE"}, ""},
		{[]string{"view", "a.jsonl", "--since", "yesterday-ish"}, 2, nil, nil, "--since"},
		{[]string{"view", "a.jsonl", "--transcript", "summary", "--color=never"}, 0, []string{"sess-one", "open client"}, nil, ""},
		{[]string{"view", "a.jsonl", "--no-such-flag"}, 2, nil, nil, "flag provided but not defined: -no-such-flag"},
		{[]string{"probe", closed, "--json"}, 1, []string{`"ok": false`}, nil, "a step failed"},
		{[]string{"probe", "--json", closed, "--timeout", "5s", "--upstream-name", "pop.example.net"}, 1, []string{`"ok": false`}, nil, "a step failed"},
		{[]string{"probe", closed, "--timeout", "soon"}, 2, nil, nil, `invalid value "soon" for flag -timeout`},
		{[]string{"probe", closed, "--auth", "kerberos"}, 2, nil, nil, "--auth must be auto, user or plain"},
		{[]string{"probe", closed, "--help"}, 0, []string{"popwire probe"}, nil, ""},
		{[]string{"probe", closed, "--", "--json"}, 2, nil, nil, "at most one HOST:PORT (got 2 arguments)"},
		{[]string{"shell", closed, "--starttls", "--plaintext"}, 2, nil, nil, "contradict"},
		{[]string{"shell", closed, "--timeout"}, 2, nil, nil, "flag needs an argument: -timeout"},
		{[]string{"serve", "stray", "--no-such-flag"}, 2, nil, nil, "flag provided but not defined"},
		{[]string{"serve", "stray", "--max-conns", "many"}, 2, nil, nil, `invalid value "many" for flag -max-conns`},
		{[]string{"serve", "--", "--listen"}, 2, nil, nil, `serve takes no arguments (got "--listen")`},
		{[]string{"demo", "stray", "--hide-users=maybe"}, 2, nil, nil, `invalid boolean value "maybe" for -hide-users`},
		{[]string{"cert", "stray", "--export"}, 2, nil, nil, "flag needs an argument: -export"},
		{[]string{"cert", "--", "-"}, 2, nil, nil, `cert takes no arguments (got "-")`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"popwire"}, tt.args...), &out, &errb)
			ok := code == tt.code && strings.Contains(errb.String(), tt.wantStderr)
			for _, w := range tt.wantStdout {
				ok = ok && strings.Contains(out.String(), w)
			}
			for _, w := range tt.notStdout {
				ok = ok && !strings.Contains(out.String(), w)
			}
			if !ok {
				t.Fatalf("code %d (want %d)\nstdout %q\nstderr %q", code, tt.code, out.String(), errb.String())
			}
			if tt.code != 0 && strings.Count(errb.String(), "\n") != 1 {
				t.Fatalf("stderr is not one line: %q", errb.String())
			}
		})
	}
}

// TestFlagsFirst checks how flagsFirst rearranges the words of a command with flags of every
// kind, and of a command with subcommands.
func TestFlagsFirst(t *testing.T) {
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}},
		&cli.StringSliceFlag{Name: "deny"},
		&cli.IntFlag{Name: "max"},
	}
	leaf := &cli.Command{Name: "leaf", Aliases: []string{"l"}, Flags: flags}
	parent := []cli.Flag{&cli.StringFlag{Name: "config"}, &cli.BoolFlag{Name: "verbose"}}
	tests := []struct {
		commands []*cli.Command
		args     []string
		want     []string // nil: a usage error
	}{
		{nil, nil, []string{"--"}},
		{nil, []string{"a", "-f", "b"}, []string{"-f", "--", "a", "b"}},
		{nil, []string{"a", "--follow", "b", "--follow=false"}, []string{"--follow", "--follow=false", "--", "a", "b"}},
		{nil, []string{"a", "-u", "me", "b"}, []string{"-u", "me", "--", "a", "b"}},
		{nil, []string{"a", "--user=me", "b"}, []string{"--user=me", "--", "a", "b"}},
		{nil, []string{"a", "--user", "-f", "b"}, []string{"--user", "-f", "--", "a", "b"}},
		{nil, []string{"a", "--max", "-1"}, []string{"--max", "-1", "--", "a"}},
		{nil, []string{"--deny", "DELE", "a", "--deny", "RETR"}, []string{"--deny", "DELE", "--deny", "RETR", "--", "a"}},
		{nil, []string{"-", "-f"}, []string{"-f", "--", "-"}},
		{nil, []string{"a", "--", "-f", "--user", "--"}, []string{"--", "a", "-f", "--user", "--"}},
		{nil, []string{"a", "--nope", "b"}, []string{"--nope", "--", "a", "b"}},
		{nil, []string{"a", "--user"}, nil},
		{nil, []string{"a", "-u", "me", "--help", "b"}, []string{"--help"}},
		{nil, []string{"--", "--help"}, []string{"--", "--help"}},
		{[]*cli.Command{leaf}, []string{"--config", "leaf", "--verbose", "l", "a", "-f"}, []string{"--config", "leaf", "--verbose", "l", "-f", "--", "a"}},
		{[]*cli.Command{leaf}, []string{"--verbose", "leaf", "a", "--user", "me"}, []string{"--verbose", "leaf", "--user", "me", "--", "a"}},
		{[]*cli.Command{leaf}, []string{"--verbose", "other", "a", "-f"}, []string{"--verbose", "other", "a", "-f"}},
		{[]*cli.Command{leaf}, []string{"--", "leaf", "-f"}, []string{"--", "leaf", "-f"}},
		{[]*cli.Command{leaf}, []string{"leaf", "a", "-u"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fl := flags
			if tt.commands != nil {
				fl = parent
			}
			got, err := flagsFirst(fl, tt.commands, tt.args)
			var ue usageError
			switch {
			case tt.want == nil && !errors.As(err, &ue):
				t.Fatalf("flagsFirst = %q, %v; want a usage error", got, err)
			case tt.want != nil && (err != nil || !slices.Equal(got, tt.want)):
				t.Fatalf("flagsFirst = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
