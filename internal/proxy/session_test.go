package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
)

const greeting = "+OK test POP3 ready <1.2@test>\r\n"

// scriptReplies answers each client line from replies, keyed by the command line.
func scriptReplies(replies map[string]string) func(*upstreamConn) {
	return func(u *upstreamConn) {
		u.write(greeting)
		for {
			l, err := u.line()
			if err != nil {
				return
			}
			u.write(replies[strings.TrimRight(l, "\r\n")])
			if strings.HasPrefix(l, "QUIT") {
				return
			}
		}
	}
}

var body = "+OK 120 octets\r\nSubject: hi\r\n\r\n..dot-stuffed line\r\n+OK looks like a reply\r\n" + strings.Repeat("x", 70000) + "\r\n.\r\n"

func TestBytesPassUnchanged(t *testing.T) {
	replies := map[string]string{"USER bob": "+OK\r\n", "PASS secret": "+OK Logged in.\r\n", "RETR 1": body, "QUIT": "+OK Logging out.\r\n"}
	for _, useTLS := range []bool{false, true} {
		up := newUpstream(t, false, scriptReplies(replies))
		p := startProxy(t, Config{}, up.addr())
		c := p.dial(t, useTLS)
		sent := "USER bob\r\nPASS secret\r\nRETR 1\r\nQUIT\r\n"
		c.send(t, sent)
		got := c.rest(t)
		want := greeting + "+OK\r\n+OK Logged in.\r\n" + body + "+OK Logging out.\r\n"
		if got != want {
			t.Fatalf("tls=%v: client got %d bytes, want %d", useTLS, len(got), len(want))
		}
		if u := up.next(t); u.received() != sent {
			t.Fatalf("upstream got %q, want %q", u.received(), sent)
		}
		p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	}
}

func TestDenyUnderPipelining(t *testing.T) {
	replies := map[string]string{"RETR 1": body, "NOOP": "+OK\r\n", "QUIT": "+OK bye\r\n"}
	up := newUpstream(t, false, scriptReplies(replies))
	p := startProxy(t, Config{Deny: []string{"dele", "TOP"}}, up.addr())
	c := p.dial(t, false)
	c.send(t, "RETR 1\r\nDELE 1\r\nNOOP\r\nTOP 1 0\r\nQUIT\r\n")
	got := c.rest(t)
	denied := string(replyDenied)
	want := greeting + body + denied + "+OK\r\n" + denied + "+OK bye\r\n"
	if got != want {
		t.Fatalf("client got\n%q\nwant\n%q", got[len(got)-80:], want[len(want)-80:])
	}
	if u := up.next(t); u.received() != "RETR 1\r\nNOOP\r\nQUIT\r\n" {
		t.Fatalf("upstream got %q", u.received())
	}
	p.sink.find(t, "policy", func(e logview.Event) bool {
		return e.Kind == logview.KindPolicy && e.Action == "deny" && e.Verb == "DELE"
	})
}

func TestCAPAMediation(t *testing.T) {
	capa := "+OK Capability list follows\r\nTOP\r\nUSER\r\nSTLS\r\nSASL PLAIN\r\nUIDL\r\n.\r\n"
	capaNoSTLS := "+OK\r\nTOP\r\nUSER\r\nSASL PLAIN\r\n.\r\n"
	tests := []struct {
		name, upstreamCapa string
		cfg                Config
		useTLS             bool
		want               string
	}{
		{"plain leg keeps STLS", capa, Config{}, false, capa},
		{"plain leg gains STLS", capaNoSTLS, Config{}, false, "+OK\r\nTOP\r\nUSER\r\nSASL PLAIN\r\nSTLS\r\n.\r\n"},
		{"TLS leg loses STLS", capa, Config{}, true, "+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN\r\nUIDL\r\n.\r\n"},
		{"require-tls hides USER and SASL", capa, Config{RequireTLS: true}, false, "+OK Capability list follows\r\nTOP\r\nSTLS\r\nUIDL\r\n.\r\n"},
		{"require-tls on TLS leg", capaNoSTLS, Config{RequireTLS: true}, true, capaNoSTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, false, scriptReplies(map[string]string{"CAPA": tt.upstreamCapa, "QUIT": "+OK\r\n"}))
			p := startProxy(t, tt.cfg, up.addr())
			c := p.dial(t, tt.useTLS)
			c.send(t, "CAPA\r\nQUIT\r\n")
			got := c.rest(t)
			if want := greeting + tt.want + "+OK\r\n"; got != want {
				t.Fatalf("client got %q, want %q", got, want)
			}
		})
	}
}

func TestRequireTLSRefusesLogin(t *testing.T) {
	up := newUpstream(t, false, scriptReplies(map[string]string{"QUIT": "+OK\r\n"}))
	p := startProxy(t, Config{RequireTLS: true}, up.addr())
	c := p.dial(t, false)
	c.send(t, "USER bob\r\nPASS secret\r\nQUIT\r\n")
	got := c.rest(t)
	if want := greeting + string(replyTLSRequired) + string(replyTLSRequired) + "+OK\r\n"; got != want {
		t.Fatalf("client got %q", got)
	}
	if u := up.next(t); u.received() != "QUIT\r\n" {
		t.Fatalf("upstream got %q", u.received())
	}
}

func TestClientSTLSInjection(t *testing.T) {
	good, _ := pkis(t)
	up := newUpstream(t, false, scriptReplies(map[string]string{"NOOP": "+OK\r\n", "QUIT": "+OK\r\n"}))
	p := startProxy(t, Config{}, up.addr())
	c := p.dial(t, false)
	if l := c.line(t); l != greeting {
		t.Fatalf("greeting %q", l)
	}
	c.send(t, "STLS\r\nUSER injected\r\n")
	if l := c.line(t); l != string(replySTLS) {
		t.Fatalf("STLS answer %q", l)
	}
	tc := tls.Client(c.Conn, &tls.Config{RootCAs: good.pool, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(tc, "STLS\r\n")
	r := bufio.NewReader(tc)
	if l, _ := r.ReadString('\n'); l != string(replyTLSActive) {
		t.Fatalf("second STLS answer %q", l)
	}
	io.WriteString(tc, "NOOP\r\nQUIT\r\n")
	got, _ := io.ReadAll(r)
	if want := "+OK\r\n+OK\r\n"; string(got) != want {
		t.Fatalf("after TLS got %q, want %q", got, want)
	}
	if u := up.next(t); u.received() != "NOOP\r\nQUIT\r\n" {
		t.Fatalf("upstream got %q", u.received())
	}
	p.sink.find(t, "discard anomaly", func(e logview.Event) bool {
		return e.Kind == logview.KindAnomaly && strings.Contains(e.Text, "after STLS")
	})
}

func TestUpstreamSTLS(t *testing.T) {
	good, _ := pkis(t)
	tests := []struct {
		name     string
		stlsResp string
		wantErr  bool
	}{
		{"clean upgrade", "+OK Begin TLS\r\n", false},
		{"response injection", "+OK Begin TLS\r\n+OK injected\r\n", true},
		{"refused", "-ERR no TLS\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, true, func(u *upstreamConn) {
				u.write(greeting)
				if l, _ := u.line(); l != "STLS\r\n" {
					return
				}
				u.write(tt.stlsResp)
				tc := tls.Server(u.Conn, &tls.Config{Certificates: []tls.Certificate{good.leaf}})
				if tc.Handshake() != nil {
					return
				}
				io.WriteString(tc, "+OK\r\n")
			})
			p := startProxy(t, Config{UpstreamMode: popclient.UpstreamSTARTTLS}, up.addr())
			c := p.dial(t, false)
			c.send(t, "NOOP\r\n")
			got := c.rest(t)
			if tt.wantErr {
				if !strings.HasPrefix(got, "-ERR [SYS/TEMP] ") || strings.Count(got, "\n") != 1 || !strings.Contains(got, " stls failed") {
					t.Fatalf("client got %q", got)
				}
				return
			}
			if got != greeting+"+OK\r\n" {
				t.Fatalf("client got %q", got)
			}
		})
	}
}

func TestDroppedClientSendsNoQuit(t *testing.T) {
	saw := make(chan string, 1)
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write(greeting)
		for {
			l, err := u.line()
			if err != nil {
				saw <- u.received()
				return
			}
			if strings.HasPrefix(l, "DELE") {
				u.write("+OK Marked to be deleted.\r\n")
			}
		}
	})
	p := startProxy(t, Config{}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	c.send(t, "DELE 1\r\n")
	c.line(t)
	c.Close()
	select {
	case got := <-saw:
		if got != "DELE 1\r\n" {
			t.Fatalf("upstream got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("upstream was not closed")
	}
}

func TestUpstreamDiesMidRETR(t *testing.T) {
	partial := "+OK 9999 octets\r\nSubject: cut\r\n\r\nfirst line\r\n"
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write(greeting)
		u.line()
		u.write(partial)
	})
	p := startProxy(t, Config{}, up.addr())
	c := p.dial(t, false)
	c.send(t, "RETR 1\r\n")
	if got := c.rest(t); got != greeting+partial {
		t.Fatalf("client got %q", got)
	}
	p.sink.find(t, "close", func(e logview.Event) bool {
		return e.Kind == logview.KindClose && e.Summary.Reason == "upstream closed"
	})
}

func TestIdleTimeout(t *testing.T) {
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write(greeting)
		u.line()
	})
	p := startProxy(t, Config{IdleTimeout: 100 * time.Millisecond}, up.addr())
	c := p.dial(t, false)
	if got := c.rest(t); got != greeting {
		t.Fatalf("client got %q", got)
	}
	p.sink.find(t, "idle close", func(e logview.Event) bool {
		return e.Kind == logview.KindClose && e.Summary.Reason == "idle timeout"
	})
}

func TestMaxConns(t *testing.T) {
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write(greeting)
		u.line()
	})
	p := startProxy(t, Config{MaxConns: 1}, up.addr())
	first := p.dial(t, false)
	first.line(t)
	for _, useTLS := range []bool{false, true} {
		second := p.dial(t, useTLS)
		if got := second.rest(t); got != "-ERR [SYS/TEMP] too many connections\r\n" {
			t.Fatalf("tls=%v: second client got %q", useTLS, got)
		}
	}
}

func TestShutdownClosesLingeringSessions(t *testing.T) {
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write(greeting)
		u.line()
	})
	p := startProxy(t, Config{}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	p.srv.Shutdown(expiredContext(t))
	if got := c.rest(t); got != "" {
		t.Fatalf("client got %q after shutdown", got)
	}
	p.sink.find(t, "shutdown close", func(e logview.Event) bool {
		return e.Kind == logview.KindClose && e.Summary.Reason == "shutdown"
	})
	if u := up.next(t); u.received() != "" {
		t.Fatalf("upstream got %q (QUIT must never be sent for a client)", u.received())
	}
}

func TestShutdownLetsSessionsFinish(t *testing.T) {
	up := newUpstream(t, false, scriptReplies(map[string]string{"QUIT": "+OK bye\r\n"}))
	p := startProxy(t, Config{}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	done := make(chan error, 1)
	go func() { done <- p.srv.Shutdown(t.Context()) }()
	time.Sleep(50 * time.Millisecond)
	c.send(t, "QUIT\r\n")
	if got := c.rest(t); got != "+OK bye\r\n" {
		t.Fatalf("client got %q", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestWrongProtocolOnPort(t *testing.T) {
	good, _ := pkis(t)
	up := newUpstream(t, false, func(u *upstreamConn) { u.write(greeting); u.line() })
	p := startProxy(t, Config{}, up.addr())

	tc, err := tls.Dial("tcp", p.plain, &tls.Config{RootCAs: good.pool, ServerName: "localhost"})
	if err == nil {
		tc.Close()
		t.Fatal("TLS handshake on the plaintext port succeeded")
	}
	p.sink.find(t, "TLS on plain port", func(e logview.Event) bool {
		return e.Kind == logview.KindError && strings.Contains(e.Err, "TLS on the plaintext listener")
	})

	c := p.dial(t, false)
	c.Close()
	pc, _ := p.dialRaw(t)
	io.WriteString(pc, "USER bob\r\n")
	io.ReadAll(pc)
	p.sink.find(t, "plaintext on TLS port", func(e logview.Event) bool {
		return e.Kind == logview.KindError && strings.Contains(e.Err, "client TLS handshake failed")
	})
}

func TestDialFailures(t *testing.T) {
	good, other := pkis(t)
	up := newUpstream(t, false, func(u *upstreamConn) { u.write(greeting); u.line() })
	closed := newUpstream(t, false, func(*upstreamConn) {})
	closedAddr := closed.addr()
	closed.ln.Close()
	tests := []struct {
		name string
		cfg  Config
		addr string
		step popclient.Step
		want string
	}{
		{"closed port", Config{}, closedAddr, popclient.StepConnect, "connect failed"},
		{"wrong CA", Config{UpstreamRoots: other.pool}, up.addr(), popclient.StepVerify, "verify failed"},
		{"wrong name", Config{UpstreamRoots: good.pool, UpstreamName: "pop.example.org"}, up.addr(), popclient.StepVerify, "pop.example.org"},
		{"bad host", Config{Upstream: "no-such-host.invalid:995"}, "", popclient.StepDNS, "dns failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, tt.cfg, tt.addr)
			c := p.dial(t, false)
			got := c.rest(t)
			if !strings.HasPrefix(got, "-ERR [SYS/TEMP] ") || strings.Count(got, "\n") != 1 || !strings.Contains(got, tt.want) {
				t.Fatalf("client got %q", got)
			}
			p.sink.find(t, "dial error", func(e logview.Event) bool {
				return e.Kind == logview.KindError && strings.Contains(string(e.Extra), `"step":"`+string(tt.step)+`"`)
			})
		})
	}
}
