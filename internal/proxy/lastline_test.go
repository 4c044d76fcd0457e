package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/popclient"
)

// noops is what a client that does not wait for answers sends at once.
var noops = strings.Repeat("NOOP\r\n", 500)

// pipelineThenRead sends pipelined at once on c without reading, then reads to the end of the
// stream. It returns what it read and the read's error: a reset makes the client lose the
// proxy's last line, or never read it. A client slow to write may find the proxy gone
// already, its line delivered and acknowledged and its close complete: the write then fails,
// and the reset that late write draws is no loss; what counts is that the line is there to
// read, whole, before it.
func pipelineThenRead(c *clientConn, pipelined string) (string, error) {
	defer c.Close()
	_, werr := io.WriteString(c, pipelined)
	got, err := io.ReadAll(c.r)
	if werr != nil && errors.Is(err, syscall.ECONNRESET) {
		err = nil
	}
	return string(got), err
}

// hangUp is an upstream that accepts and, after a while, closes without a word: the proxy's
// dial fails once the client's pipelined lines are waiting unread.
func hangUp(c net.Conn) {
	time.Sleep(20 * time.Millisecond)
	c.Close()
}

// TestLastLineBeforeClose: popwire's own last line (a dial failure's -ERR [SYS/TEMP], a
// refusal at --max-conns or --max-conns-per-ip, the end of a session whose input cannot be
// framed under a policy) reaches a client that pipelined lines popwire never read, followed
// by a clean end of stream, never a reset that would discard it.
func TestLastLineBeforeClose(t *testing.T) {
	closed := newUpstream(t, false, func(*upstreamConn) {})
	closedAddr := closed.addr()
	closed.ln.Close()
	hangUpAddr := listenUpstream(t, true, hangUp)
	tests := []struct {
		name   string
		cfg    Config
		addr   string
		up     bool // a fake upstream that answers the greeting, and a first session holding a slot
		useTLS bool
		send   string
		want   string // what the client gets, the line after it cut short when it says why
	}{
		{name: "dial fails at once", addr: closedAddr, want: "-ERR [SYS/TEMP] upstream "},
		{name: "dial fails later", addr: hangUpAddr, want: "-ERR [SYS/TEMP] upstream "},
		{name: "dial fails, TLS client", addr: hangUpAddr, useTLS: true, want: "-ERR [SYS/TEMP] upstream "},
		{name: "max-conns", cfg: Config{MaxConns: 1}, up: true, want: string(replyTooMany)},
		{name: "max-conns, TLS client", cfg: Config{MaxConns: 1}, up: true, useTLS: true, want: string(replyTooMany)},
		{name: "max-conns-per-ip", cfg: Config{MaxConnsPerIP: 1}, up: true, want: string(replyTooManyFromAddr)},
		{name: "cannot frame", cfg: Config{Deny: []string{"DELE"}}, up: true, send: "\x01\r\n", want: greeting + string(replyCannotFrame)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr
			if tt.up {
				up := newUpstream(t, false, silentUpstream)
				go drainConns(t, up)
				addr = up.addr()
			}
			p := startProxy(t, tt.cfg, addr)
			if tt.up {
				p.dial(t, false).line(t)
			}
			lines := strings.Count(tt.want, "\n")
			if !strings.HasSuffix(tt.want, "\n") {
				lines++
			}
			for i := range 30 {
				got, err := pipelineThenRead(p.dial(t, tt.useTLS), tt.send+noops)
				if !strings.HasPrefix(got, tt.want) || strings.Count(got, "\n") != lines || !strings.HasSuffix(got, "\n") || err != nil {
					t.Fatalf("run %d: client got %q, %v; want %q (one line), then the end of the stream", i, got, err, tt.want)
				}
			}
		})
	}
}

// TestLoginTimeoutLineBeforeClose: the login timeout's -ERR reaches a client whose input
// popwire has stopped reading (the upstream does not read what is passed on to it), followed
// by a clean end of stream.
func TestLoginTimeoutLineBeforeClose(t *testing.T) {
	const limit = 200 * time.Millisecond
	told := "-ERR popwire: no login within " + limit.String() + "; closing\r\n"
	stop := t.Context()
	up := newUpstream(t, true, func(u *upstreamConn) {
		u.Conn.(*net.TCPConn).SetReadBuffer(16 << 10)
		u.write(greeting)
		<-stop.Done()
	})
	// No certificate, so no policy: a line too long to hold is passed on in pieces, until
	// the upstream's buffers are full.
	p := startProxyCert(t, Config{LoginTimeout: limit, UpstreamMode: popclient.UpstreamPlaintext, InsecureUpstreamPlaintext: true}, up.addr())
	for i := range 5 {
		c := p.dial(t, false)
		if l := c.line(t); l != greeting {
			t.Fatalf("greeting %q", l)
		}
		go c.Write(bytes.Repeat([]byte("x"), 8<<20))
		got, err := io.ReadAll(c.r)
		c.Close()
		if string(got) != told || err != nil {
			t.Fatalf("run %d: client got %q, %v; want %q, then the end of the stream", i, got, err, told)
		}
	}
}

// TestLingeringRefusalsGiveWay: refusals lingering after their line never keep a newer
// refusal waiting for a slot: the oldest is given up (closed) for it.
func TestLingeringRefusalsGiveWay(t *testing.T) {
	var r refusals
	r.free.L = &r.mu
	refs := make([]*refusal, maxRefusing)
	for i := range refs {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		refs[i] = r.start(a, false)
		if !r.lingering(refs[i]) {
			t.Fatalf("refusal %d given up before the slots were full", i)
		}
	}
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	started := make(chan *refusal, 1)
	go func() { started <- r.start(a, false) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		r.finish(refs[0]) // lets the waiting start return, so that the test ends
		<-started
		t.Fatal("a new refusal waited for a slot while every slot was lingering")
	}
	if r.lingering(refs[0]) {
		t.Error("the oldest lingering refusal was not given up")
	}
	if _, err := refs[0].c.Write([]byte("x")); err == nil {
		t.Error("the refusal given up was not closed")
	}
}
