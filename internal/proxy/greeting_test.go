package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
)

func TestGreetingDeadline(t *testing.T) {
	tests := []struct {
		name  string
		plain bool // the fake upstream speaks plaintext
		mode  popclient.UpstreamMode
		step  popclient.Step
	}{
		{"implicit TLS", false, popclient.UpstreamImplicitTLS, popclient.StepGreeting},
		{"plaintext", true, popclient.UpstreamPlaintext, popclient.StepGreeting},
		{"STARTTLS", true, popclient.UpstreamSTARTTLS, popclient.StepSTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The server completes the handshake, then says nothing until the client leaves.
			up := newUpstream(t, tt.plain, func(u *upstreamConn) { u.line() })
			p := startProxy(t, Config{UpstreamMode: tt.mode, InsecureUpstreamPlaintext: tt.plain, DialTimeout: 300 * time.Millisecond}, up.addr())
			got := p.dial(t, false).rest(t)
			if !strings.HasPrefix(got, "-ERR [SYS/TEMP] ") || strings.Count(got, "\n") != 1 || !strings.Contains(got, " "+string(tt.step)+" failed") {
				t.Fatalf("client got %q, want one -ERR [SYS/TEMP] line naming the %s step", got, tt.step)
			}
			p.sink.find(t, "dial error", func(e logview.Event) bool {
				return e.Kind == logview.KindError && strings.Contains(string(e.Extra), `"step":"`+string(tt.step)+`"`)
			})
			p.closeReason(t, "upstream dial failed")
		})
	}
}

func TestGreetingIsRelayedWhole(t *testing.T) {
	// The greeting comes in pieces, and with an unsolicited line in the same write as its end.
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write("+OK test")
		time.Sleep(20 * time.Millisecond)
		u.write(" POP3 ready\r\n-ERR unsolicited\r\n")
		u.line()
	})
	p := startProxy(t, Config{}, up.addr())
	c := p.dial(t, false)
	if got := c.line(t) + c.line(t); got != "+OK test POP3 ready\r\n-ERR unsolicited\r\n" {
		t.Fatalf("client got %q", got)
	}
}
