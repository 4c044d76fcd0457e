package proxy

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// freshUpstream is a TLS upstream that answers every command +OK. It runs each handshake on
// a goroutine of its own and serves the connection on a fresh one, so that the goroutine that
// stays per connection has a small stack (the handshake's deep one is gone).
func freshUpstream(t *testing.T) string {
	good, _ := pkis(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	cfg := &tls.Config{Certificates: []tls.Certificate{good.leaf}}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			wg.Go(func() { handshakeUpstream(tls.Server(c, cfg), &wg) })
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// handshakeUpstream runs tc's handshake and serves tc on a goroutine of its own.
func handshakeUpstream(tc *tls.Conn, wg *sync.WaitGroup) {
	if err := tc.Handshake(); err != nil {
		tc.Close()
		return
	}
	wg.Go(func() { serveOK(tc) })
}

// serveOK greets and answers +OK to every line until QUIT or an error.
func serveOK(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	io.WriteString(c, greeting)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		io.WriteString(c, "+OK\r\n")
		if strings.HasPrefix(l, "QUIT") {
			return
		}
	}
}

// stackBytes returns, after a garbage collection, the bytes of goroutine stacks and the number
// of goroutines of the process.
func stackBytes() (stacks, goroutines uint64) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// idleStack is the most stack an idle session's goroutine may hold: the goroutine stack of
// the smallest size but one that the blocked read of a TLS leg fits in.
const idleStack = 4 << 10

// TestIdleSessionStacksStaySmall checks that a logged-in session that went idle comes to hold
// goroutines whose stacks are no bigger than a fresh goroutine's, however deep the work of
// logging in went (a TLS client leg, every event encoded on the pump's own goroutine): the
// goroutines that did the work are not the ones that wait for the next line or reply.
func TestIdleSessionStacksStaySmall(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation makes every frame bigger than this bound is for")
	}
	const n = 40
	p := startProxy(t, Config{Sink: logview.NewJSONWriter(io.Discard)}, freshUpstream(t))
	c := p.dial(t, true) // a first session, so that everything started once is running
	c.send(t, "USER bob\r\nPASS secret\r\n")
	c.line(t)
	c.line(t)
	c.line(t)
	stacks0, gs0 := stackBytes()
	for range n {
		c := p.dial(t, true)
		c.send(t, "USER bob\r\nPASS secret\r\nNOOP\r\n")
		for range 4 {
			c.line(t)
		}
	}
	// The pumps go on on fresh goroutines settleAfter after their legs went quiet.
	deadline := time.Now().Add(10 * time.Second)
	for {
		stacks, gs := stackBytes()
		if gs <= gs0 {
			t.Fatalf("goroutines: %d before the sessions, %d after", gs0, gs)
		}
		// Each session has its two pumps and the upstream's goroutine, which has a small stack.
		per := (stacks - stacks0) / (gs - gs0)
		if per <= idleStack {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("an idle session's goroutine holds %d bytes of stack on average (%d goroutines for %d sessions), want at most %d",
				per, gs-gs0, n, idleStack)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLinesAcrossAQuietLeg checks that a line or a reply that stops half-way for longer than
// settleAfter, so that its pump goes on on a fresh goroutine in the middle of it, still goes
// through whole and unchanged, on a plaintext and on a TLS client leg.
func TestLinesAcrossAQuietLeg(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		up := newUpstream(t, false, func(u *upstreamConn) {
			u.write(greeting)
			if l, err := u.line(); err != nil || l != "NOOP\r\n" {
				return
			}
			u.write("+OK ")
			time.Sleep(2 * settleAfter)
			u.write("still here\r\n")
			if l, err := u.line(); err == nil && l == "QUIT\r\n" {
				u.write("+OK bye\r\n")
			}
		})
		p := startProxy(t, Config{}, up.addr())
		c := p.dial(t, useTLS)
		c.line(t)
		c.send(t, "NO")
		time.Sleep(2 * settleAfter)
		c.send(t, "OP\r\n")
		if got := c.line(t); got != "+OK still here\r\n" {
			t.Errorf("TLS %v: reply %q, want %q", useTLS, got, "+OK still here\r\n")
		}
		c.send(t, "QUIT\r\n")
		if got := c.line(t); got != "+OK bye\r\n" {
			t.Errorf("TLS %v: QUIT reply %q", useTLS, got)
		}
		if got := up.next(t).all(t); got != "NOOP\r\nQUIT\r\n" {
			t.Errorf("TLS %v: upstream got %q, want %q", useTLS, got, "NOOP\r\nQUIT\r\n")
		}
		p.sink.mu.Lock()
		for _, e := range p.sink.ev {
			if e.Kind == logview.KindAnomaly || e.Kind == logview.KindError {
				t.Errorf("TLS %v: unexpected event %+v", useTLS, e)
			}
		}
		p.sink.mu.Unlock()
	}
}
