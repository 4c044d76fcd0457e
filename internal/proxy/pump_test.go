package proxy

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
)

// discardConn is a client leg that accepts every write.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }
func (discardConn) Close() error                { return nil }

func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// bodySession returns a session whose tracker has a RETR body open, and a chunk of body lines.
func bodySession(t testing.TB) (*session, []byte) {
	srv, err := New(Config{Sink: logview.Discard})
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(srv, discardConn{}, false, "bench")
	if err := s.serverBytes([]byte(greeting)); err != nil {
		t.Fatal(err)
	}
	s.t.Client([]byte("RETR 1\r\n"))
	if err := s.serverBytes([]byte("+OK message follows\r\n")); err != nil {
		t.Fatal(err)
	}
	if s.t.Pending() != 1 { // the RETR, its body open
		t.Fatal("tracker is not in a body")
	}
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n"
	chunk := []byte(strings.Repeat(line, bigServerBuf/len(line)))
	return s, chunk
}

func TestBodyPathAllocatesNothing(t *testing.T) {
	s, chunk := bodySession(t)
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.serverBytes(chunk); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per body chunk, want 0", allocs)
	}
	if s.bytesDown.Load() == 0 {
		t.Fatal("no body bytes were written")
	}
}

func BenchmarkPump(b *testing.B) {
	s, chunk := bodySession(b)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.serverBytes(chunk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPumpLoopback measures a RETR body through a whole session over loopback TCP.
func BenchmarkPumpLoopback(b *testing.B) {
	good, _ := pkis(b)
	const size = 8 << 20
	msg := strings.Repeat(strings.Repeat("x", 78)+"\r\n", size/80)
	reply := []byte("+OK\r\n" + msg + ".\r\n")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(greeting))
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if strings.HasPrefix(string(buf[:n]), "RETR") {
				c.Write(reply)
			}
		}
	}()
	defer ln.Close()
	srv, _ := New(Config{Upstream: ln.Addr().String(), UpstreamMode: popclient.UpstreamPlaintext, InsecureUpstreamPlaintext: true,
		UpstreamRoots: good.pool, Sink: logview.Discard})
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(Listener{Listener: pl}) }()
	c, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 64<<10)
	readUntil := func(suffix string) {
		for {
			n, err := c.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			if n >= len(suffix) && string(buf[n-len(suffix):n]) == suffix {
				return
			}
		}
	}
	readUntil("\r\n")
	b.SetBytes(int64(len(reply)))
	b.ReportAllocs()
	retr := []byte("RETR 1\r\n")
	for b.Loop() {
		c.Write(retr)
		readUntil("\r\n.\r\n")
	}
	c.Close()
	srv.Shutdown(b.Context())
	<-done
}

// BenchmarkPumpDenied measures a RETR body chunk while a denied command pipelined after the
// RETR waits for its turn (the --deny workload of the benchmark).
func BenchmarkPumpDenied(b *testing.B) {
	srv, err := New(Config{Sink: logview.Discard, Deny: []string{"DELE"}})
	if err != nil {
		b.Fatal(err)
	}
	s := newSession(srv, discardConn{}, false, "bench")
	s.upConn = discardConn{}
	if err := s.serverBytes([]byte(greeting)); err != nil {
		b.Fatal(err)
	}
	for _, l := range []string{"RETR 1\r\n", "DELE 1\r\n"} {
		if !s.clientLine([]byte(l), true) {
			b.Fatal("client line refused")
		}
	}
	if err := s.serverBytes([]byte("+OK message follows\r\n")); err != nil {
		b.Fatal(err)
	}
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n"
	chunk := []byte(strings.Repeat(line, bigServerBuf/len(line)))
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.serverBytes(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if len(s.localq) != 1 {
		b.Fatal("the denied command was answered inside the body")
	}
}

// TestServerBufferShrinks: pumpDown reads into a big buffer while a body flows and goes back
// to the small one once a read comes back short, so that a session idle after a RETR holds
// no big buffer.
func TestServerBufferShrinks(t *testing.T) {
	small := make([]byte, smallServerBuf)
	buf := nextServerBuf(small, len(small), small)
	if len(buf) != bigServerBuf {
		t.Fatalf("after a full small read the buffer has %d bytes, want %d", len(buf), bigServerBuf)
	}
	if next := nextServerBuf(buf, smallServerBuf, small); len(next) != bigServerBuf {
		t.Fatalf("after a %d-byte read of a flowing body the buffer has %d bytes, want %d", smallServerBuf, len(next), bigServerBuf)
	}
	if next := nextServerBuf(buf, len("+OK\r\n"), small); &next[0] != &small[0] {
		t.Fatalf("after a short read the buffer has %d bytes, want the small one", len(next))
	}
}
