package proxy

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// lazyReplies answers "+OK" to every line, but only once the client has been quiet for a
// moment: a server that reads a whole pipeline before it answers.
func lazyReplies(u *upstreamConn) {
	u.write(greeting)
	var part string
	n := 0
	for {
		u.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		l, err := u.line()
		part += l
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			u.write(strings.Repeat("+OK\r\n", n))
			n = 0
			continue
		}
		if err != nil {
			return
		}
		if part == "QUIT\r\n" {
			u.write(strings.Repeat("+OK\r\n", n) + "+OK bye\r\n")
			return
		}
		part = ""
		n++
	}
}

func TestPipelineBackpressureKeepsFraming(t *testing.T) {
	up := newUpstream(t, false, lazyReplies)
	p := startProxy(t, Config{Deny: []string{"DELE"}}, up.addr())
	c := p.dial(t, false)
	noops := strings.Repeat("NOOP\r\n", 300)
	c.send(t, noops+"DELE 1\r\nQUIT\r\n")
	got := c.rest(t)
	if want := greeting + strings.Repeat("+OK\r\n", 300) + string(replyDenied) + "+OK bye\r\n"; got != want {
		t.Fatalf("client got %d bytes ending %q, want %d bytes", len(got), got[max(0, len(got)-120):], len(want))
	}
	if u := up.next(t).all(t); u != noops+"QUIT\r\n" {
		t.Fatalf("upstream got %d bytes ending %q", len(u), u[max(0, len(u)-40):])
	}
}

func TestFramingLostFailsClosed(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		junk string
	}{
		{"control byte, deny", Config{Deny: []string{"DELE"}}, "\x01\r\n"},
		{"CR inside the keyword, deny", Config{Deny: []string{"DELE"}}, "DELE\r1\r\n"},
		{"control byte, require-tls", Config{RequireTLS: true}, "\x01\r\n"},
		{"control byte, STLS offered", Config{}, "\x01\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, false, scriptReplies(map[string]string{"NOOP": "+OK\r\n", "QUIT": "+OK bye\r\n"}))
			p := startProxy(t, tt.cfg, up.addr())
			c := p.dial(t, false)
			c.send(t, "NOOP\r\n")
			if l := c.line(t); l != greeting {
				t.Fatalf("greeting %q", l)
			}
			if l := c.line(t); l != "+OK\r\n" {
				t.Fatalf("NOOP reply %q", l)
			}
			c.send(t, tt.junk+"DELE 1\r\nUSER bob\r\nSTLS\r\nQUIT\r\n")
			if got := c.rest(t); got != string(replyCannotFrame) {
				t.Fatalf("client got %q, want %q", got, replyCannotFrame)
			}
			if u := up.next(t).all(t); u != "NOOP\r\n" {
				t.Fatalf("upstream got %q", u)
			}
			p.sink.find(t, "framing error", func(e logview.Event) bool {
				return e.Kind == logview.KindError && strings.Contains(e.Err, "cannot be framed")
			})
		})
	}
}

func TestFramingLostPassesThroughWithoutPolicy(t *testing.T) {
	up := newUpstream(t, false, scriptReplies(map[string]string{"\x01": "-ERR what\r\n", "NOOP": "+OK\r\n", "QUIT": "+OK bye\r\n"}))
	p := startProxyCert(t, Config{}, up.addr())
	c := p.dial(t, false)
	c.send(t, "NOOP\r\n\x01\r\nNOOP\r\nQUIT\r\n")
	if got, want := c.rest(t), greeting+"+OK\r\n-ERR what\r\n+OK\r\n+OK bye\r\n"; got != want {
		t.Fatalf("client got %q, want %q", got, want)
	}
	if u := up.next(t).all(t); u != "NOOP\r\n\x01\r\nNOOP\r\nQUIT\r\n" {
		t.Fatalf("upstream got %q", u)
	}
}

// junkDuringAUTH is an upstream that answers AUTH with a line that is not POP3, once the
// client's next lines had time to be held, then records what else arrives.
func junkDuringAUTH(u *upstreamConn) {
	u.write(greeting)
	if _, err := u.line(); err != nil {
		return
	}
	time.Sleep(100 * time.Millisecond)
	u.write("\x01junk\r\n")
	u.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, err := u.line(); err != nil {
			return
		}
	}
}

func TestHeldLinesAfterFramingLoss(t *testing.T) {
	good, _ := pkis(t)
	tests := []struct {
		name     string
		cert     bool
		upstream string // what the upstream receives
	}{
		{"pass-through forwards held lines in order", false, "AUTH PLAIN\r\nAGEAYg==\r\nNOOP\r\n"},
		{"fail closed forwards none", true, "AUTH PLAIN\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, false, junkDuringAUTH)
			cfg := Config{}
			if tt.cert {
				cfg.Certificate = &good.leaf
			}
			p := startProxyCert(t, cfg, up.addr())
			c := p.dial(t, false)
			if l := c.line(t); l != greeting {
				t.Fatalf("greeting %q", l)
			}
			c.send(t, "AUTH PLAIN\r\nAGEAYg==\r\nNOOP\r\n")
			u := up.next(t)
			if got := u.all(t); got != tt.upstream {
				t.Fatalf("upstream got %q, want %q", got, tt.upstream)
			}
			if tt.cert {
				p.sink.find(t, "held lines dropped", func(e logview.Event) bool {
					return e.Kind == logview.KindError && strings.Contains(e.Err, "2 held client line(s) not forwarded")
				})
			}
		})
	}
}

func TestSTLSRefusalDiscardsPipelinedLines(t *testing.T) {
	tests := []struct {
		name   string
		useTLS bool
		before string // commands sent with STLS, before it
		want   string // replies to them, then the STLS refusal
	}{
		{"TLS already active", true, "NOOP\r\n", "+OK\r\n" + string(replyTLSActive)},
		{"after authentication", false, "USER bob\r\nPASS secret\r\n", "+OK\r\n+OK in\r\n" + string(replySTLSState)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, false, scriptReplies(map[string]string{"NOOP": "+OK\r\n", "USER bob": "+OK\r\n",
				"PASS secret": "+OK in\r\n", "RSET": "+OK\r\n", "QUIT": "+OK bye\r\n"}))
			p := startProxy(t, Config{Deny: []string{"DELE"}}, up.addr())
			c := p.dial(t, tt.useTLS)
			c.send(t, tt.before+"STLS\r\nDELE 1\r\nRSET\r\n")
			var got string
			for range strings.Count(tt.want, "\n") + 1 {
				got += c.line(t)
			}
			if want := greeting + tt.want; got != want {
				t.Fatalf("client got %q, want %q", got, want)
			}
			c.send(t, "QUIT\r\n")
			if rest := c.rest(t); rest != "+OK bye\r\n" {
				t.Fatalf("client then got %q", rest)
			}
			if u := up.next(t).all(t); u != tt.before+"QUIT\r\n" {
				t.Fatalf("upstream got %q", u)
			}
			p.sink.find(t, "discard anomaly", func(e logview.Event) bool {
				return e.Kind == logview.KindAnomaly && strings.Contains(e.Text, "after STLS")
			})
		})
	}
}

func TestLocalAnswerWaitsForServerLine(t *testing.T) {
	sent := make(chan struct{})
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write(greeting + "-ERR autologout imm")
		select {
		case <-sent:
		case <-time.After(5 * time.Second):
			return
		}
		time.Sleep(100 * time.Millisecond) // let the proxy read DELE 1 meanwhile
		u.write("inent\r\n")
		for _, r := range []string{"+OK\r\n", "+OK bye\r\n"} {
			if _, err := u.line(); err != nil {
				return
			}
			u.write(r)
		}
	})
	p := startProxy(t, Config{Deny: []string{"DELE"}}, up.addr())
	c := p.dial(t, false)
	partial := make([]byte, len(greeting+"-ERR autologout imm"))
	if _, err := io.ReadFull(c.r, partial); err != nil {
		t.Fatal(err)
	}
	c.send(t, "DELE 1\r\nNOOP\r\nQUIT\r\n")
	close(sent)
	if got, want := c.rest(t), "inent\r\n"+string(replyDenied)+"+OK\r\n+OK bye\r\n"; got != want {
		t.Fatalf("client got %q, want %q", got, want)
	}
}
