package proxy

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// TestPanicEndsOnlyItsSession makes the sink panic on one event, in turn on each of a
// session's goroutines: that session ends, its panic is logged with a stack and nothing of
// the panic value, and the server goes on serving.
func TestPanicEndsOnlyItsSession(t *testing.T) {
	good, _ := pkis(t)
	tests := []struct {
		name  string
		cfg   Config
		on    func(logview.Event) bool
		where string // a function the stack must name
		// client drives the session that panics, up to its end.
		client func(t *testing.T, p *testProxy)
	}{
		{"client pump, holding the session lock", Config{},
			func(e logview.Event) bool { return e.Kind == logview.KindCommand && e.Verb == "NOOP" },
			"(*session).clientLine", plainNOOP},
		{"server pump", Config{},
			func(e logview.Event) bool { return e.Kind == logview.KindReply && e.Answers == "NOOP" },
			"(*session).serverBytes", plainNOOP},
		{"client handshake", Config{},
			func(e logview.Event) bool { return e.Kind == logview.KindTLS && e.Leg == "client" },
			"(*session).handshakeClient", func(t *testing.T, p *testProxy) {
				c := p.dial(t, true)
				if got := c.rest(t); got != "" {
					t.Fatalf("client got %q", got)
				}
			}},
		{"STLS handshake", Config{},
			func(e logview.Event) bool { return e.Kind == logview.KindTLS && e.Leg == "client" },
			"(*session).handshakeClient", func(t *testing.T, p *testProxy) {
				c := p.dial(t, false)
				c.line(t)
				c.send(t, "STLS\r\n")
				c.line(t)
				tc := tls.Client(c.Conn, &tls.Config{RootCAs: good.pool, ServerName: "localhost"})
				if err := tc.Handshake(); err != nil {
					return // the proxy may close before the handshake is over
				}
				if got, _ := io.ReadAll(tc); len(got) != 0 {
					t.Fatalf("client got %q after STLS", got)
				}
			}},
		{"upstream dial", Config{},
			func(e logview.Event) bool { return e.Kind == logview.KindTLS && e.Leg == "upstream" },
			"(*session).dialUpstream", func(t *testing.T, p *testProxy) {
				if got := p.dial(t, false).rest(t); got != "" {
					t.Fatalf("client got %q", got)
				}
			}},
		{"session start", Config{},
			func(e logview.Event) bool { return e.Kind == logview.KindOpen },
			"(*session).run", func(t *testing.T, p *testProxy) {
				if got := p.dial(t, false).rest(t); got != "" {
					t.Fatalf("client got %q", got)
				}
			}},
		{"idle timer", Config{IdleTimeout: 100 * time.Millisecond},
			func(e logview.Event) bool {
				return e.Kind == logview.KindError && strings.Contains(e.Err, "idle timeout")
			},
			"(*session).checkIdle", func(t *testing.T, p *testProxy) {
				if got := p.dial(t, false).rest(t); got != greeting {
					t.Fatalf("client got %q", got)
				}
			}},
		{"login timer", Config{LoginTimeout: 100 * time.Millisecond},
			func(e logview.Event) bool {
				return e.Kind == logview.KindError && strings.Contains(e.Err, "login timeout")
			},
			"(*session).checkLogin", func(t *testing.T, p *testProxy) {
				// The line goes out before the timeout is logged.
				if got := p.dial(t, false).rest(t); got != greeting+"-ERR popwire: no login within 100ms; closing\r\n" {
					t.Fatalf("client got %q", got)
				}
			}},
		{"close summary", Config{},
			func(e logview.Event) bool { return e.Kind == logview.KindClose },
			"(*session).end", func(t *testing.T, p *testProxy) {
				c := p.dial(t, false)
				c.send(t, "QUIT\r\n")
				if got := c.rest(t); got != greeting+"+OK bye\r\n" {
					t.Fatalf("client got %q", got)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, false, scriptReplies(loginReplies))
			go drainConns(t, up)
			p := startProxy(t, tt.cfg, up.addr())
			p.sink.setPanic(tt.on)
			tt.client(t, p)
			e := p.sink.find(t, "panic", func(e logview.Event) bool {
				return e.Kind == logview.KindError && strings.HasPrefix(e.Err, "proxy: panic in ")
			})
			var extra struct{ Stack []string }
			if err := json.Unmarshal(e.Extra, &extra); err != nil || !strings.Contains(strings.Join(extra.Stack, "\n"), tt.where) {
				t.Fatalf("panic event %q: stack %q (%v) does not name %s", e.Err, extra.Stack, err, tt.where)
			}
			for _, f := range extra.Stack {
				if strings.Contains(f, "0x") {
					t.Fatalf("stack frame %q shows argument words", f)
				}
			}

			// The server still serves, the same way.
			c := p.dial(t, false)
			c.line(t)
			c.send(t, "USER bob\r\nPASS secret\r\nNOOP\r\nQUIT\r\n")
			if got := c.rest(t); got != "+OK\r\n+OK Logged in.\r\n+OK\r\n+OK bye\r\n" {
				t.Fatalf("the next client got %q", got)
			}
			if tt.where != "(*session).end" {
				p.closeReason(t, "panic")
			}
			p.sink.mu.Lock()
			defer p.sink.mu.Unlock()
			for _, e := range p.sink.ev {
				if b, _ := json.Marshal(e); strings.Contains(string(b), "token-7f3a9c") {
					t.Fatalf("the panic value reached the log: %s", b)
				}
			}
		})
	}
}

// plainNOOP sends NOOP on a plaintext session and reads to the end, expecting no reply
// (the session panics before the reply is relayed).
func plainNOOP(t *testing.T, p *testProxy) {
	c := p.dial(t, false)
	c.line(t)
	c.send(t, "NOOP\r\n")
	if got, _ := io.ReadAll(bufio.NewReader(c.r)); len(got) != 0 && string(got) != "+OK\r\n" {
		t.Fatalf("client got %q", got)
	}
}
