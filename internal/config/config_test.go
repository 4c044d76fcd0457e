package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/proxy"
)

// TestExample checks that the example parses, and says what it claims: two routes, defaults
// merged, overrides applied.
func TestExample(t *testing.T) {
	cfg, err := Parse("example.yaml", []byte(Example()))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 2 {
		t.Fatalf("%d routes, want 2", len(cfg.Routes))
	}
	gmail, outlook := cfg.Routes[0], cfg.Routes[1]
	if gmail.Name != "gmail" || gmail.Upstream != "pop.gmail.com:995" || len(gmail.Listeners) != 2 || !gmail.Listeners[1].TLS {
		t.Errorf("gmail route: %+v", gmail)
	}
	if len(gmail.Deny) != 0 || !slices.Equal(outlook.Deny, []string{"DELE"}) {
		t.Errorf("deny: gmail %q, outlook %q; want none and DELE", gmail.Deny, outlook.Deny)
	}
	if gmail.Bodies != proxy.BodiesHeaders || outlook.Bodies != proxy.BodiesNone {
		t.Errorf("bodies: gmail %q, outlook %q; want headers and none", gmail.Bodies, outlook.Bodies)
	}
	if outlook.IdleTimeout != 10*time.Minute || outlook.DialTimeout != 30*time.Second || outlook.MaxConnsPerIP != 50 {
		t.Errorf("outlook does not have the defaults: %+v", outlook)
	}
	if cfg.ShutdownTimeout != 30*time.Second || cfg.Log.BodiesBudget != "64MiB" {
		t.Errorf("process settings: %+v", cfg)
	}
}

// TestDefaultsAndOverrides checks that a route's setting wins over the top-level one, which
// wins over the built-in default.
func TestDefaultsAndOverrides(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(`
upstream: {tls: starttls, name: mail.example.org, ca: [a.pem]}
tls: {cert: c.pem, key: k.pem}
policy: {require_tls: true}
limits: {max_conns: 7}
log: {hide_users: true}
routes:
  - name: a
    listen: [{address: "127.0.0.1:2110"}]
    upstream: {address: "mail.example.org:110"}
  - name: b
    listen: [{address: "[::1]:2110", tls: true}]
    upstream: {address: "other.example.org:995", tls: implicit, ca: [b.pem]}
    tls: {cert: c2.pem, key: k2.pem}
    policy: {require_tls: false}
    limits: {max_conns: 9}
    log: {hide_users: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Routes[0], cfg.Routes[1]
	if a.UpstreamMode != popclient.UpstreamSTARTTLS || b.UpstreamMode != popclient.UpstreamImplicitTLS {
		t.Errorf("upstream modes %v %v", a.UpstreamMode, b.UpstreamMode)
	}
	if a.UpstreamName != "mail.example.org" || b.UpstreamName != "mail.example.org" {
		t.Errorf("upstream names %q %q", a.UpstreamName, b.UpstreamName)
	}
	if !slices.Equal(a.UpstreamCA, []string{"a.pem"}) || !slices.Equal(b.UpstreamCA, []string{"b.pem"}) {
		t.Errorf("CAs %q %q", a.UpstreamCA, b.UpstreamCA)
	}
	if a.Cert != "c.pem" || b.Cert != "c2.pem" || a.Lines["tls.cert"] != 3 || b.Lines["tls.cert"] != 14 {
		t.Errorf("certs %q (line %d) %q (line %d)", a.Cert, a.Lines["tls.cert"], b.Cert, b.Lines["tls.cert"])
	}
	if !a.RequireTLS || b.RequireTLS || a.MaxConns != 7 || b.MaxConns != 9 || !a.HideUsers || b.HideUsers {
		t.Errorf("overrides: a %+v, b %+v", a, b)
	}
	if a.MaxConnsPerIP != 0 || a.IdleTimeout != 0 {
		t.Errorf("unset limits should be 0 (the proxy's defaults): %+v", a)
	}
}

// TestOAuthSection checks that a route without an oauth section takes the top-level one, and
// that a route's own section replaces it whole.
func TestOAuthSection(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(`
oauth: {provider: google, mechanism: oauthbearer}
routes:
  - name: a
    listen: [{address: "127.0.0.1:2110"}]
    upstream: {address: "h:995"}
  - name: b
    listen: [{address: "127.0.0.1:2111"}]
    upstream: {address: "h:995"}
    oauth: {provider: corp, token_url: "https://t.example/token"}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Routes[0].OAuth, cfg.Routes[1].OAuth
	if a == nil || a.Provider != "google" || a.Mechanism != "oauthbearer" || a.Line != 2 {
		t.Errorf("route a's oauth %+v, want the top-level google with oauthbearer (line 2)", a)
	}
	if b == nil || b.Provider != "corp" || b.TokenURL != "https://t.example/token" || b.Mechanism != "" || b.Line != 10 {
		t.Errorf("route b's oauth %+v, want its own corp section alone (line 10)", b)
	}
}

// TestErrorsNameTheLine checks that each kind of mistake is refused with the file and the line
// where it is.
func TestErrorsNameTheLine(t *testing.T) {
	const ok = `routes:
  - name: a
    listen: [{address: "127.0.0.1:2110"}]
    upstream: {address: "h:995"}
`
	for _, tt := range []struct {
		name, text string
		line       int
		want       string
		drop       string // a line of ok the case leaves out
	}{
		{"syntax", "routes:\n  - name: a\n    listen: [{address: x}\n    upstream: {}\n", 2, "did not find expected", ""},
		{"unknown top-level key", "lisen: x\n" + ok, 1, `unknown key "lisen"`, ""},
		{"unknown nested key", ok + "    policy: {deny: [DELE], requir_tls: true}\n", 5, `unknown key "requir_tls" in routes[0].policy (known: deny, require_tls)`, ""},
		{"wrong type", ok + "    limits: {max_conns: many}\n", 5, `want an integer, found "many"`, ""},
		{"bad bool", ok + "    policy: {require_tls: maybe}\n", 5, "want true or false", ""},
		{"bad duration", ok + "    limits:\n      idle_timeout: 10 minutes\n", 6, "want a duration", ""},
		{"zero duration", ok + "    limits:\n      login_timeout: 0s\n", 6, "must be positive", ""},
		{"bad mode", ok + "    upstream: {address: \"h:995\", tls: ssl}\n", 4, "upstream.tls must be implicit, starttls or none", "    upstream: {address: \"h:995\"}\n"},
		{"plaintext upstream", "upstream: {tls: none}\n" + ok, 1, "insecure_plaintext", ""},
		{"bad port", "routes:\n  - name: a\n    listen: [{address: \"127.0.0.1:0\"}]\n    upstream: {address: \"h:995\"}\n", 3, "port must be a number from 1 to 65535", ""},
		{"no port", "routes:\n  - name: a\n    listen: [{address: \"127.0.0.1\"}]\n    upstream: {address: \"h:995\"}\n", 3, "want HOST:PORT", ""},
		{"remote plaintext", "routes:\n  - name: a\n    listen: [{address: \"0.0.0.0:2110\"}]\n    upstream: {address: \"h:995\"}\n", 3, "allow_remote_plaintext", ""},
		{"no name", "routes:\n  - listen: [{address: \"127.0.0.1:2110\"}]\n    upstream: {address: \"h:995\"}\n", 2, "needs a name", ""},
		{"bad name", "routes:\n  - name: Gmail Main\n    listen: [{address: \"127.0.0.1:2110\"}]\n    upstream: {address: \"h:995\"}\n", 2, "route name", ""},
		{"duplicate name", ok + "  - name: a\n    listen: [{address: \"127.0.0.1:2111\"}]\n    upstream: {address: \"h:995\"}\n", 5, `route name "a" is used twice (first at line 2)`, ""},
		{"same address twice", ok + "  - name: b\n    listen: [{address: \"127.0.0.1:2110\", tls: true}]\n    upstream: {address: \"h:995\"}\n", 6, "clashes with 127.0.0.1:2110 of route a (line 3)", ""},
		{"wildcard and specific", ok + "  - name: b\n    listen: [{address: \":2110\", tls: true}]\n    upstream: {address: \"h:995\"}\n", 6, "clashes", ""},
		{"same address in one route", "routes:\n  - name: a\n    listen:\n      - address: \"[::1]:2110\"\n      - {address: \"[::1]:2110\", tls: true}\n    upstream: {address: \"h:995\"}\n", 5, "clashes", ""},
		{"no upstream", "routes:\n  - name: a\n    listen: [{address: \"127.0.0.1:2110\"}]\n", 2, "no upstream.address", ""},
		{"no listen", "routes:\n  - name: a\n    upstream: {address: \"h:995\"}\n", 2, "no listen entries", ""},
		{"no routes", "log: {format: json}\n", 1, "no routes", ""},
		{"cert without key", ok + "    tls: {cert: c.pem}\n", 5, "tls.cert and tls.key go together", ""},
		{"bad deny", ok + "    policy: {deny: [\"D E\"]}\n", 5, "policy.deny", ""},
		{"bad bodies", ok + "    log: {bodies: all}\n", 5, "log.bodies must be one of", ""},
		{"bad log format", "log: {format: xml}\n" + ok, 1, "log.format must be one of", ""},
		{"bad budget", "log: {bodies_budget: 64MB}\n" + ok, 1, "not a size", ""},
		{"small budget", "log: {bodies_budget: 1KiB}\n" + ok, 1, "at least 1MiB", ""},
		{"hide and reveal", "log: {hide_users: true, reveal_credentials: true}\n" + ok, 1, "contradict", ""},
		{"max conns", ok + "    limits: {max_conns_per_ip: 0}\n", 5, "at least 1", ""},
		{"list expected", "routes: gmail\n", 1, "routes: want a list", ""},
		{"mapping expected", ok + "    upstream: pop.gmail.com\n", 4, "want keys and values", "    upstream: {address: \"h:995\"}\n"},
		{"duplicate key", ok + "    upstream: {address: \"h:995\"}\n", 5, "already defined", ""},
		{"untrusted proxy protocol", ok + "    listen: [{address: \"127.0.0.1:2110\", proxy_protocol: {trusted: [10.0.0.0/33]}}]\n", 4, "CIDR", "    listen: [{address: \"127.0.0.1:2110\"}]\n"},
		{"proxy protocol without trusted", "routes:\n  - name: a\n    listen:\n      - address: \"127.0.0.1:2110\"\n        proxy_protocol: {trusted: []}\n    upstream: {address: \"h:995\"}\n", 5, "needs trusted", ""},
		{"proxy protocol out", ok + "    upstream: {address: \"h:995\", proxy_protocol: v1}\n", 4, "upstream.proxy_protocol must be one of", "    upstream: {address: \"h:995\"}\n"},
		{"oauth incomplete", ok + "    oauth:\n      client_id: x\n", 5, "oauth needs provider", ""},
		{"oauth mechanism only", ok + "    oauth:\n      mechanism: oauthbearer\n", 5, "oauth needs provider", ""},
		{"oauth over a default", "oauth: {provider: google}\n" + ok + "    oauth: {token_url: \"https://t.example/\"}\n", 6, "oauth needs provider", ""},
		{"oauth provider", ok + "    oauth: {provider: Not A Name}\n", 5, "oauth.provider \"Not A Name\"", ""},
		{"oauth mechanism", ok + "    oauth: {provider: google, mechanism: plain}\n", 5, "oauth.mechanism must be", ""},
		{"oauth url", ok + "    oauth: {provider: corp, token_url: \"http://t.example/\"}\n", 5, "want an https:// URL", ""},
		{"metrics address", "metrics: {listen: localhost}\n" + ok, 1, "metrics.listen", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.text
			if tt.drop != "" { // the case replaces a line of ok
				text = strings.Replace(text, tt.drop, "", 1)
			}
			_, err := Parse("c.yaml", []byte(text))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, want a *config.Error\n%s", err, text)
			}
			if ce.File != "c.yaml" || ce.Line != tt.line || !strings.Contains(ce.Msg, tt.want) {
				t.Errorf("error %q (line %d); want line %d and %q\n%s", err, ce.Line, tt.line, tt.want, text)
			}
			if !strings.HasPrefix(err.Error(), "config: c.yaml:") {
				t.Errorf("error %q does not start with config: FILE:LINE", err)
			}
		})
	}
}

// TestLoadMissingFile checks that an unreadable file is an *Error naming it.
func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.yaml")
	_, err := Load(path)
	var ce *Error
	if !errors.As(err, &ce) || ce.File != path || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load = %v", err)
	}
}

// TestEmptyFile checks that an empty file is refused.
func TestEmptyFile(t *testing.T) {
	if _, err := Parse("e.yaml", []byte("\n# nothing\n")); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("Parse(empty) = %v", err)
	}
}

// TestExampleNamesEveryKey checks that the example shows every key the file may hold.
func TestExampleNamesEveryKey(t *testing.T) {
	var walk func(rt reflect.Type, path string)
	walk = func(rt reflect.Type, path string) {
		for key, ft := range keysOf(rt) {
			if !strings.Contains(Example(), key+":") {
				t.Errorf("the example does not show %s", join(path, key))
			}
			switch {
			case ft.Kind() == reflect.Struct && !ft.Implements(leafType):
				walk(ft, join(path, key))
			case ft.Kind() == reflect.Slice:
				walk(ft.Elem(), join(path, key))
			}
		}
	}
	walk(reflect.TypeFor[file](), "")
}
