package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDetectPopwireModes(t *testing.T) {
	const full = `   --deny value [ --deny value ]   answer these commands locally
   --log-file FILE      append JSON lines
   --log-format value   what goes to stderr: text (the transcript) | json (JSON lines) | none (default: "text")
   --color value        auto | always | never
   --bodies value       none | headers | full
   --bodies-budget SIZE   with --bodies full, the most message content`
	logged := []string{"--color", "never", "--log-format", "text", "--bodies", "headers"}
	withFull := func(l []string) []string {
		return append(slices.Clone(l[:len(l)-1]), "full", "--bodies-budget", "32MiB")
	}
	tests := []struct {
		name              string
		help              string
		off, logged, full []string
		deny              []string
		jsonLog           bool
		notes             int
	}{
		{"all flags", full, []string{"--log-format", "none", "--bodies", "none"}, logged, withFull(logged),
			append(slices.Clone(logged), "--deny", "DELE"), true, 0},
		{"quiet flag", "   --quiet   no transcript\n" + full, []string{"--quiet", "--bodies", "none"}, logged, withFull(logged),
			append(slices.Clone(logged), "--deny", "DELE"), true, 0},
		{"no off switch", strings.Replace(full, "| none ", "", 1), []string{"--bodies", "none"}, logged, withFull(logged),
			append(slices.Clone(logged), "--deny", "DELE"), true, 1},
		{"no budget", strings.Replace(full, "--bodies-budget", "--other", 1), []string{"--log-format", "none", "--bodies", "none"},
			logged, []string{"--color", "never", "--log-format", "text", "--bodies", "full"},
			append(slices.Clone(logged), "--deny", "DELE"), true, 1},
		{"no logging flags", "   --listen ADDR   plaintext listener", nil, nil, nil, nil, false, 5},
		{"per-address cap", "   --max-conns-per-ip value   per address\n" + full,
			[]string{"--log-format", "none", "--bodies", "none", "--max-conns-per-ip", "7"},
			append(slices.Clone(logged), "--max-conns-per-ip", "7"),
			[]string{"--color", "never", "--log-format", "text", "--bodies", "full", "--bodies-budget", "32MiB", "--max-conns-per-ip", "7"},
			append(slices.Clone(logged), "--max-conns-per-ip", "7", "--deny", "DELE"), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := detectPopwireModes(tt.help, 7, 32)
			if !slices.Equal(m.off, tt.off) || !slices.Equal(m.logged, tt.logged) || !slices.Equal(m.full, tt.full) ||
				!slices.Equal(m.deny, tt.deny) || m.jsonLog != tt.jsonLog || len(m.notes) != tt.notes {
				t.Errorf("got off %q logged %q full %q deny %q json log %v notes %q;\n"+
					"want off %q logged %q full %q deny %q json log %v and %d notes",
					m.off, m.logged, m.full, m.deny, m.jsonLog, m.notes, tt.off, tt.logged, tt.full, tt.deny, tt.jsonLog, tt.notes)
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
		{"zero budget", []string{"--bodies-budget", "0"}, nil, true},
		{"stray argument", []string{"extra"}, nil, true},
		{"workloads and contenders", []string{"--workloads", "retr, noop", "--contenders", "stunnel,log"}, func(o *options) bool {
			return slices.Equal(o.only, []string{"retr", "noop"}) && o.runs(cStunnel) && o.runs(cPopwireLog) &&
				!o.runs(cPopwireOff) && !o.runs(cRelay)
		}, false},
		{"popwire names all of popwire's", []string{"--contenders", "popwire"}, func(o *options) bool {
			return o.runs(cPopwireOff) && o.runs(cPopwireFull) && !o.runs(cStunnel)
		}, false},
		{"everything by default", nil, func(o *options) bool { return o.only == nil && o.runs(cDirect) && o.runs(cPopwireDeny) }, false},
		{"unknown workload", []string{"--workloads", "retr,stat"}, nil, true},
		{"unknown contender", []string{"--contenders", "nginx"}, nil, true},
		{"partial run writes no markdown", []string{"--workloads", "retr", "--markdown", "x.md"}, nil, true},
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

func TestReadLogStats(t *testing.T) {
	const log = `{"v":1,"kind":"open","session":"a"}
{"v":1,"kind":"dropped","text":"212 events dropped: stderr could not keep up","output":"stderr","dropped":212}
{"v":1,"kind":"body","session":"a","message":{"msg":1,"octets":9,"content":"\"dropped\" and \"content_omitted\" in a message"}}
{"v":1,"kind":"body","session":"a","message":{"msg":1,"octets":9,"content_omitted":true}}
{"v":1,"kind":"body","session":"b","message":{"msg":2,"octets":9,"content_omitted":true}}
{"v":1,"kind":"dropped","output":"log-file","dropped":3}
`
	dir := t.TempDir()
	file := filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(file, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readLogStats(file)
	if err != nil || got != (logStats{dropped: 215, omitted: 2}) {
		t.Errorf("readLogStats = %+v, %v; want 215 dropped and 2 omitted", got, err)
	}
	if err := os.WriteFile(file, []byte(log+`{"kind":"dropped","dropp`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readLogStats(file); err == nil {
		t.Error("readLogStats accepted a log whose last line is cut short")
	}
}
