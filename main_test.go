package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	tests := []struct {
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{[]string{"--version"}, 0, "popwire ", ""},
		{[]string{"serve", "--no-such-flag"}, 2, "", "flag provided but not defined"},
		{[]string{"serve", "--upstream-tls", "none"}, 2, "", "--insecure-upstream-plaintext"},
		{[]string{"serve", "--upstream-tls", "sometimes"}, 2, "", "unknown upstream TLS mode"},
		{[]string{"serve", "--listen", ""}, 2, "", "nothing to serve"},
		{[]string{"serve", "--cert", "x.pem"}, 2, "", "--cert and --key go together"},
		{[]string{"serve", "--deny", "DELE,"}, 2, "", "--deny"},
		{[]string{"serve", "--max-conns-per-ip", "0"}, 2, "", "--max-conns-per-ip must be at least 1"},
		{[]string{"serve", "--login-timeout", "0s"}, 2, "", "--login-timeout must be positive"},
		{[]string{"serve", "--proxy-protocol-trusted", "10.0.0.1"}, 2, "", `--proxy-protocol-trusted: proxy: trusted proxy network "10.0.0.1" is not a CIDR prefix`},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--upstream-ca", "/no/such/ca.pem"}, 2, "", "upstream CA"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--log-file", "/no/such/dir/log.jsonl"}, 1, "", "log file"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--log-overflow", "later"}, 2, "", "--log-overflow must be drop or block"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--bodies", "all"}, 2, "", "--bodies must be none, headers or full"},
		{[]string{"demo", "--deny", "DELE,"}, 2, "", "--deny"},
		{[]string{"demo", "--bodies", "all"}, 2, "", "--bodies must be none, headers or full"},
		{[]string{"demo", "--hide-users", "--reveal-credentials"}, 2, "", "--hide-users and --reveal-credentials contradict"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--color", "sometimes"}, 2, "", `--color: logview: color mode "sometimes"`},
		{[]string{"demo", "--color", "sometimes"}, 2, "", `--color: logview: color mode "sometimes"`},
		{[]string{"view", "--color", "sometimes"}, 2, "", `--color: logview: color mode "sometimes"`},
		{[]string{"probe", "--color", "sometimes"}, 2, "", `--color: logview: color mode "sometimes"`},
		{[]string{"shell", "--color", "sometimes"}, 2, "", `--color: logview: color mode "sometimes"`},
		{[]string{"view", "--follow", "-"}, 2, "", "--follow needs files"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--transcript", "verbose"}, 2, "", `--transcript must be summary, replies or full (got "verbose")`},
		{[]string{"demo", "--transcript", "all"}, 2, "", "--transcript must be summary, replies or full"},
		{[]string{"view", "--transcript", "FULL", "-"}, 2, "", "--transcript must be summary, replies or full"},
		{[]string{"view", "--summary", "--findings", "internal/logview/testdata/findings.jsonl"}, 2, "", "choose one"},
		{[]string{"view", "--findings", "internal/logview/testdata/findings.jsonl"}, 0, "bare-lf · server · RFC 1939 §3 — 2 findings, first in session a1b2c3d4", ""},
		{[]string{"view", "--since", "yesterday-ish"}, 2, "", "--since"},
		{[]string{"view", "--pcap", "/no/such/dir/out.pcapng", "--json"}, 2, "", "--pcap writes whole sessions: it does not go with --json"},
		{[]string{"view", "--pcap", "/no/such/dir/out.pcapng", "--command", "RETR"}, 2, "", "it does not go with --command"},
		{[]string{"cert"}, 0, "SHA-256 fingerprint: ", ""},
		{[]string{"cert", "stray"}, 2, "", `cert takes no arguments (got "stray")`},
		{[]string{"demo", "stray"}, 2, "", `demo takes no arguments (got "stray")`},
		{[]string{"serve", "stray"}, 2, "", `serve takes no arguments (got "stray")`},
		{[]string{"probe", "a:110", "b:110"}, 2, "", "probe takes at most one HOST:PORT (got 2 arguments)"},
		{[]string{"shell", "a:110", "b:110"}, 2, "", "shell takes at most one HOST:PORT (got 2 arguments)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"popwire"}, tt.args...), &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.wantStdout) || !strings.Contains(errb.String(), tt.wantStderr) {
				t.Fatalf("code %d (want %d)\nstdout %q\nstderr %q", code, tt.code, out.String(), errb.String())
			}
			if tt.code != 0 && strings.Count(errb.String(), "\n") != 1 {
				t.Fatalf("stderr is not one line: %q", errb.String())
			}
		})
	}
}

// TestUnknownCommand checks that an unknown command is a usage error that run reports itself
// (exit status 2, one line), as with "help" and an unknown topic.
func TestUnknownCommand(t *testing.T) {
	for _, args := range [][]string{{"serv"}, {"help", "serv"}, {"serv", "--listen", "x"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"popwire"}, args...), &out, &errb)
			if code != 2 || errb.String() != "popwire: unknown command \"serv\" (see popwire --help)\n" {
				t.Fatalf("code %d (want 2)\nstdout %q\nstderr %q", code, out.String(), errb.String())
			}
		})
	}
}
