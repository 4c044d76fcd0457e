package main

import (
	"slices"
	"strings"
	"testing"
)

func TestDetectPopwireModes(t *testing.T) {
	const full = `   --log-file FILE      append JSON lines
   --log-format value   what goes to stderr: text (the transcript) | json (JSON lines) | none (default: "text")
   --color value        auto | always | never
   --bodies value       none | headers | full`
	tests := []struct {
		name        string
		help        string
		off, logged []string
		notes       int
	}{
		{"all flags", full, []string{"--log-format", "none", "--bodies", "none"},
			[]string{"--color", "never", "--log-format", "text", "--log-file", "J", "--bodies", "headers"}, 0},
		{"quiet flag", "   --quiet   no transcript\n" + full, []string{"--quiet", "--bodies", "none"},
			[]string{"--color", "never", "--log-format", "text", "--log-file", "J", "--bodies", "headers"}, 0},
		{"no off switch", strings.Replace(full, "| none ", "", 1), []string{"--bodies", "none"},
			[]string{"--color", "never", "--log-format", "text", "--log-file", "J", "--bodies", "headers"}, 1},
		{"no logging flags", "   --listen ADDR   plaintext listener", nil, nil, 3},
		{"per-address cap", "   --max-conns-per-ip value   per address\n" + full,
			[]string{"--log-format", "none", "--bodies", "none", "--max-conns-per-ip", "7"},
			[]string{"--color", "never", "--log-format", "text", "--log-file", "J", "--bodies", "headers", "--max-conns-per-ip", "7"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := detectPopwireModes(tt.help, "J", 7)
			if !slices.Equal(m.off, tt.off) || !slices.Equal(m.logged, tt.logged) || len(m.notes) != tt.notes {
				t.Errorf("got off %q logged %q notes %q; want off %q logged %q and %d notes",
					m.off, m.logged, m.notes, tt.off, tt.logged, tt.notes)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(o *options) bool
		wantErr bool
	}{
		{"defaults", nil, func(o *options) bool {
			return o.rounds == 5 && o.bigMiB == 50 && o.noops == 5000 && o.workers == 200 && o.idle == 10000
		}, false},
		{"quick", []string{"--quick"}, func(o *options) bool {
			return o.rounds == 2 && o.bigMiB == 8 && o.noops == 1000 && o.idle == 1000 && o.workers == 200
		}, false},
		{"quick keeps explicit values", []string{"--quick", "--rounds", "3"}, func(o *options) bool {
			return o.rounds == 3 && o.bigMiB == 8
		}, false},
		{"zero rounds", []string{"--rounds", "0"}, nil, true},
		{"stray argument", []string{"extra"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseOptions(%q) error %v, want error %v", tt.args, err, tt.wantErr)
			}
			if err == nil && !tt.check(o) {
				t.Errorf("parseOptions(%q) = %+v", tt.args, *o)
			}
		})
	}
}

func TestStunnelConfigVerifies(t *testing.T) {
	conf := stunnelConfig("127.0.0.1:1", "127.0.0.1:2", "/ca.pem")
	for _, want := range []string{"client = yes", "accept = 127.0.0.1:1", "connect = 127.0.0.1:2",
		"CAfile = /ca.pem", "verifyChain = yes", "checkHost = localhost"} {
		if !strings.Contains(conf, want+"\n") {
			t.Errorf("stunnel config lacks %q:\n%s", want, conf)
		}
	}
}
