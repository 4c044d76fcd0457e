package proxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
)

// silentUpstream answers the greeting and then only reads, answering nothing.
func silentUpstream(u *upstreamConn) {
	u.write(greeting)
	for {
		if _, err := u.line(); err != nil {
			return
		}
	}
}

// loginReplies is the script of a server that lets bob in.
var loginReplies = map[string]string{"USER bob": "+OK\r\n", "PASS secret": "+OK Logged in.\r\n", "NOOP": "+OK\r\n", "QUIT": "+OK bye\r\n"}

func TestLoginTimeout(t *testing.T) {
	const limit = 200 * time.Millisecond
	told := "-ERR popwire: no login within " + limit.String() + "; closing\r\n"
	t.Run("silent client is told and closed", func(t *testing.T) {
		up := newUpstream(t, false, silentUpstream)
		p := startProxy(t, Config{LoginTimeout: limit}, up.addr())
		c := p.dial(t, false)
		if got := c.rest(t); got != greeting+told {
			t.Fatalf("client got %q, want the greeting and %q", got, told)
		}
		p.closeReason(t, "login timeout")
		p.sink.find(t, "login timeout error", func(e logview.Event) bool {
			return e.Kind == logview.KindError && strings.Contains(e.Err, "login timeout")
		})
		if got := up.next(t).all(t); got != "" {
			t.Fatalf("upstream got %q (never QUIT for a client)", got)
		}
	})
	t.Run("slow bytes do not delay it", func(t *testing.T) {
		up := newUpstream(t, false, silentUpstream)
		p := startProxy(t, Config{LoginTimeout: limit}, up.addr())
		c := p.dial(t, false)
		c.line(t)
		go trickle(c.Conn, []byte("U"), 20*time.Millisecond)
		if got := c.rest(t); got != told {
			t.Fatalf("client got %q, want %q", got, told)
		}
		p.closeReason(t, "login timeout")
	})
	t.Run("no line while a reply is awaited", func(t *testing.T) {
		up := newUpstream(t, false, silentUpstream)
		p := startProxy(t, Config{LoginTimeout: limit}, up.addr())
		c := p.dial(t, false)
		c.line(t)
		c.send(t, "USER bob\r\n")
		// An -ERR now would read as the server's answer to USER.
		if got := c.rest(t); got != "" {
			t.Fatalf("client got %q while USER awaited its reply", got)
		}
		p.closeReason(t, "login timeout")
	})
	t.Run("TLS client", func(t *testing.T) {
		up := newUpstream(t, false, silentUpstream)
		p := startProxy(t, Config{LoginTimeout: limit}, up.addr())
		c := p.dial(t, true)
		if got := c.rest(t); got != greeting+told {
			t.Fatalf("client got %q", got)
		}
	})
	t.Run("a logged-in client stays", func(t *testing.T) {
		up := newUpstream(t, false, scriptReplies(loginReplies))
		p := startProxy(t, Config{LoginTimeout: limit}, up.addr())
		c := p.dial(t, false)
		c.line(t)
		c.send(t, "USER bob\r\nPASS secret\r\n")
		c.line(t)
		c.line(t)
		time.Sleep(4 * limit)
		c.send(t, "NOOP\r\nQUIT\r\n")
		if got := c.rest(t); got != "+OK\r\n+OK bye\r\n" {
			t.Fatalf("client got %q after logging in", got)
		}
	})
}

// trickle writes p to c every interval until a write fails.
func trickle(c net.Conn, p []byte, interval time.Duration) {
	for {
		if _, err := c.Write(p); err != nil {
			return
		}
		time.Sleep(interval)
	}
}

func TestPartialLineIsNotActivity(t *testing.T) {
	tests := []struct {
		name  string
		chunk []byte
	}{
		{"a byte at a time", []byte("x")},
		{"an over-long line in pieces", []byte(strings.Repeat("x", 16<<10))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, false, silentUpstream)
			p := startProxy(t, Config{IdleTimeout: 300 * time.Millisecond}, up.addr())
			c := p.dial(t, false)
			c.line(t)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			// A write fails once the proxy closed the session (or when the deadline passes).
			trickle(c.Conn, tt.chunk, 20*time.Millisecond)
			p.closeReason(t, "idle timeout")
		})
	}
}

func TestMaxConnsPerAddress(t *testing.T) {
	up := newUpstream(t, false, silentUpstream)
	go drainConns(t, up)
	p := startProxy(t, Config{MaxConnsPerIP: 2}, up.addr())
	first := p.dialFrom(t, "127.0.0.1", false)
	first.line(t)
	second := p.dialFrom(t, "127.0.0.1", true)
	second.line(t)
	const refused = "-ERR [SYS/TEMP] too many connections from your address\r\n"
	for _, useTLS := range []bool{false, true} {
		if got := p.dialFrom(t, "127.0.0.1", useTLS).rest(t); got != refused {
			t.Fatalf("tls=%v: third client from 127.0.0.1 got %q, want %q", useTLS, got, refused)
		}
	}
	p.sink.find(t, "per-address refusal", func(e logview.Event) bool {
		return e.Kind == logview.KindError && strings.Contains(e.Err, "too many connections from 127.0.0.1")
	})
	if got := p.dialFrom(t, "127.0.0.2", false).line(t); got != greeting {
		t.Fatalf("client from 127.0.0.2 got %q", got)
	}
	first.Close()
	p.closeReason(t, "client closed")
	if got := p.dialFrom(t, "127.0.0.1", false).line(t); got != greeting {
		t.Fatalf("client from 127.0.0.1 after one left got %q", got)
	}
}

// drainConns takes the upstream connections nobody waits for, so that the fake upstream
// keeps accepting; it returns when the test ends.
func drainConns(t *testing.T, u *fakeUpstream) {
	for {
		select {
		case <-u.conns:
		case <-t.Context().Done():
			return
		}
	}
}

func TestAddrKey(t *testing.T) {
	tests := []struct{ a, b string }{
		{"192.0.2.1:110", "192.0.2.1:995"},
		{"[::ffff:192.0.2.1]:110", "192.0.2.1:110"},
		{"[2001:db8:1:2::1]:110", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:995"},
		{"[fe80::1%eth0]:110", "[fe80::2%eth1]:110"},
	}
	for _, tt := range tests {
		if ka, kb := addrKey(tcpAddr(tt.a)), addrKey(tcpAddr(tt.b)); ka != kb {
			t.Errorf("%s and %s: keys %v and %v, want one", tt.a, tt.b, ka, kb)
		}
	}
	for _, tt := range []struct{ a, b string }{
		{"192.0.2.1:110", "192.0.2.2:110"},
		{"[2001:db8:1:2::1]:110", "[2001:db8:1:3::1]:110"},
	} {
		if addrKey(tcpAddr(tt.a)) == addrKey(tcpAddr(tt.b)) {
			t.Errorf("%s and %s share a key", tt.a, tt.b)
		}
	}
}

func tcpAddr(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

func TestRefusedSilentTLSClientIsGivenUp(t *testing.T) {
	up := newUpstream(t, false, silentUpstream)
	p := startProxy(t, Config{MaxConns: 1, HandshakeTimeout: time.Minute}, up.addr())
	p.dial(t, false).line(t)
	c, _ := p.dialRaw(t)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || (err != io.EOF && !isReset(err)) {
		t.Fatalf("silent refused TLS client: read %d bytes, %v; want it closed well before the handshake timeout", n, err)
	}
}

func TestRefusalFloodStillAnswers(t *testing.T) {
	up := newUpstream(t, false, silentUpstream)
	p := startProxy(t, Config{MaxConns: 1, HandshakeTimeout: time.Minute}, up.addr())
	p.dial(t, false).line(t)
	// Silent connections on the TLS listener: each refusal waits for a handshake that never
	// starts, more of them than refusals may run at once.
	for range 2 * maxRefusing {
		p.dialRaw(t)
	}
	const refused = "-ERR [SYS/TEMP] too many connections\r\n"
	for _, useTLS := range []bool{true, false} {
		if got := p.dial(t, useTLS).rest(t); got != refused {
			t.Fatalf("tls=%v: a real client got %q, want %q", useTLS, got, refused)
		}
	}
}

// raiseFileLimit makes room for n more open files, or skips the test.
func raiseFileLimit(t *testing.T, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("open files limited to %d, need %d", lim.Max, n)
	}
	old := lim.Cur
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	t.Cleanup(func() {
		lim.Cur = old
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	})
}

// TestSlowByteFloodFromOneAddress runs with the default limits: 1,000 connections from
// 127.0.0.1 that send a byte a second take no more than the per-address cap, and a client
// from 127.0.0.2 is served at once.
func TestSlowByteFloodFromOneAddress(t *testing.T) {
	const flood = 1000
	raiseFileLimit(t, 4*flood)
	up := newUpstream(t, false, scriptReplies(loginReplies))
	go drainConns(t, up)
	p := startProxy(t, Config{}, up.addr())
	conns := make([]*clientConn, flood)
	for i := range conns {
		conns[i] = p.dialFrom(t, "127.0.0.1", false)
		conns[i].SetDeadline(time.Now().Add(time.Minute))
	}
	stop := make(chan struct{})
	defer close(stop)
	go slowBytes(conns, stop)

	served := 0
	for _, fc := range conns {
		switch l, err := fc.r.ReadString('\n'); {
		case l == greeting:
			served++
		case l != "-ERR [SYS/TEMP] too many connections from your address\r\n":
			t.Fatalf("flood connection got %q, %v", l, err)
		}
	}
	if served != DefaultMaxConnsPerIP {
		t.Fatalf("%d of %d connections from one address were served, want %d", served, flood, DefaultMaxConnsPerIP)
	}

	start := time.Now()
	c := p.dialFrom(t, "127.0.0.2", false)
	if got := c.line(t); got != greeting {
		t.Fatalf("client from 127.0.0.2 got %q", got)
	}
	t.Logf("the client from 127.0.0.2 had its greeting %v after connecting", time.Since(start))
	c.send(t, "USER bob\r\nPASS secret\r\nQUIT\r\n")
	if got := c.rest(t); got != "+OK\r\n+OK Logged in.\r\n+OK bye\r\n" {
		t.Fatalf("client from 127.0.0.2 got %q", got)
	}
}

// slowBytes sends one byte a second on every connection until stop is closed.
func slowBytes(conns []*clientConn, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for _, c := range conns {
			c.Write([]byte("U")) // refused connections fail: they are closed
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// TestClientThatNeverReads: a client that stops reading during a RETR leaves pumpDown blocked
// in its write to the client, holding the session lock, and pumpUp waiting for that lock with
// the client's next line. No write has a deadline: the idle timer ends the session, since a
// blocked pump records no activity, and closing the legs fails the blocked write.
func TestClientThatNeverReads(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plaintext", true: "TLS"}[useTLS], func(t *testing.T) {
			full := make(chan struct{})
			up := newUpstream(t, true, func(u *upstreamConn) {
				u.write(greeting)
				if l, _ := u.line(); l != "RETR 1\r\n" {
					return
				}
				floodBody(u.Conn, full)
			})
			p := startProxy(t, Config{UpstreamMode: popclient.UpstreamPlaintext, InsecureUpstreamPlaintext: true,
				IdleTimeout: 300 * time.Millisecond}, up.addr())
			c := p.dial(t, useTLS)
			c.line(t)
			c.send(t, "RETR 1\r\n")
			select {
			case <-full:
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream's writes never blocked")
			}
			c.send(t, "NOOP\r\n") // pumpUp takes this line to the session lock
			p.closeReason(t, "idle timeout")
		})
	}
}

// floodBody writes an endless RETR reply to c until a write fails, closing full once a write
// has waited 200 ms (the proxy stopped reading: every buffer between here and the client is
// full). c is a plain TCP connection, which a write deadline leaves usable.
func floodBody(c net.Conn, full chan<- struct{}) {
	if _, err := io.WriteString(c, "+OK\r\n"); err != nil {
		return
	}
	lines := []byte(strings.Repeat(strings.Repeat("x", 78)+"\r\n", 800))
	for p := lines; ; {
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Write(p)
		if p = p[n:]; len(p) == 0 {
			p = lines
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if full != nil {
				close(full)
				full = nil
			}
		case err != nil:
			return
		}
	}
}
