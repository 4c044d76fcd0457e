package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
)

// lastWords is what the fake upstream of TestServerLastWords says before it closes.
const lastWords = "-ERR too many commands, aborting\r\n"

// readLineByByte reads one line from c a byte at a time, so that nothing after it leaves the
// kernel's receive queue.
func readLineByByte(c net.Conn) (string, error) {
	var line []byte
	b := make([]byte, 1)
	for {
		if _, err := c.Read(b); err != nil {
			return string(line), err
		}
		line = append(line, b[0])
		if b[0] == '\n' {
			return string(line), nil
		}
	}
}

// answerThreeAndClose is a server that answers the first 3 commands, waits for the first byte
// of the 4th, sends lastWords and closes with the rest unread: the kernel answers the
// proxy's further writes with a reset (a plaintext leg resets at once).
func answerThreeAndClose(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, greeting)
	for i := 1; i <= 3; i++ {
		if _, err := readLineByByte(c); err != nil {
			return
		}
		fmt.Fprintf(c, "+OK %d\r\n", i)
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return
	}
	io.WriteString(c, lastWords)
}

// listenUpstream serves each connection on loopback with serve, over TLS with the good PKI
// unless plain, until the test ends.
func listenUpstream(t *testing.T, plain bool, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !plain {
		good, _ := pkis(t)
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{good.leaf}})
	}
	done := make(chan struct{})
	go acceptEach(ln, serve, done)
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// acceptEach runs serve on every connection ln accepts, one at a time, until ln is closed.
func acceptEach(ln net.Listener, serve func(net.Conn), done chan<- struct{}) {
	defer close(done)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		serve(c)
	}
}

// TestServerLastWords: a server that answers 3 of 200 pipelined commands, sends a final -ERR
// and closes (resetting the connection, its input unread) makes the proxy's writes fail; every
// byte it sent must still reach the client, in order, followed by a clean end of stream.
func TestServerLastWords(t *testing.T) {
	pipeline := strings.Repeat("NOOP\r\n", 200)
	want := greeting + "+OK 1\r\n+OK 2\r\n+OK 3\r\n" + lastWords
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"plaintext upstream", Config{UpstreamMode: popclient.UpstreamPlaintext, InsecureUpstreamPlaintext: true}},
		{"TLS upstream", Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := listenUpstream(t, tc.cfg.UpstreamMode == popclient.UpstreamPlaintext, answerThreeAndClose)
			p := startProxy(t, tc.cfg, addr)
			for i := range 30 {
				c := p.dial(t, false)
				c.send(t, pipeline)
				got, err := io.ReadAll(c.r)
				c.Close()
				if string(got) != want || err != nil {
					t.Fatalf("run %d: client got %q, %v; want %q, then EOF", i, got, err, want)
				}
			}
		})
	}
}

// TestReadAfterResetReturnsQueuedData checks what the proxy relies on to relay a server's
// last words: on a connection the peer reset, bytes that arrived before the reset are still
// read, before the error.
func TestReadAfterResetReturnsQueuedData(t *testing.T) {
	c, srv := tcpPair(t)
	io.WriteString(c, "unread\r\n")
	io.WriteString(srv, lastWords)
	if _, err := srv.Read(make([]byte, 1)); err != nil { // the client's line has arrived
		t.Fatal(err)
	}
	srv.Close() // with unread input: a reset
	var werr error
	for werr == nil { // a write fails once the reset has arrived
		_, werr = c.Write([]byte("x"))
	}
	if !isReset(werr) && !strings.Contains(werr.Error(), "broken pipe") {
		t.Fatalf("write after the reset failed with %v", werr)
	}
	got, err := io.ReadAll(c)
	if string(got) != lastWords || (err != nil && !isReset(err)) {
		t.Fatalf("after the reset (write: %v) read %q, %v; want %q first", werr, got, err, lastWords)
	}
}

// tcpPair returns both ends of a new loopback TCP connection, closed when the test ends.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	client.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// flakyUp is an upstream leg whose writes fail once fail is set, while the server keeps the
// connection open (a leg the server stopped accepting: a write deadline, say).
type flakyUp struct {
	net.Conn
	fail atomic.Bool
}

func (f *flakyUp) Write(p []byte) (int, error) {
	if f.fail.Load() {
		return 0, errors.New("test: upstream refuses writes")
	}
	return f.Conn.Write(p)
}

// pumpSession runs a session between a new loopback client and the upstream at addr, whose
// leg is a flakyUp, as run does once the upstream is dialed. The test's end closes the
// client and waits for the session to end.
func pumpSession(t *testing.T, addr string) (*clientConn, *flakyUp, *recSink) {
	t.Helper()
	sink := &recSink{}
	var up *flakyUp
	_, c := runSession(t, Config{Sink: sink}, addr, func(c net.Conn) net.Conn {
		up = &flakyUp{Conn: c}
		return up
	})
	return c, up, sink
}

// runSession runs a session of a Server configured with cfg between a new loopback client and
// a connection to the upstream at addr, as run does once the upstream is dialed, and returns
// the session and its client. With wrap set, the session writes and reads the upstream
// through wrap's result. The test's end closes the client and waits for the session to end.
func runSession(t *testing.T, cfg Config, addr string, wrap func(net.Conn) net.Conn) (*session, *clientConn) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	upRaw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, raw := tcpPair(t)
	s := newSession(srv, raw, false, "test")
	s.upRaw, s.upConn = upRaw, upRaw
	if wrap != nil {
		s.upConn = wrap(upRaw)
	}
	ended := make(chan struct{})
	go runPumps(s, ended)
	t.Cleanup(func() {
		c.Close()
		upRaw.Close()
		select {
		case <-ended:
		case <-time.After(30 * time.Second):
			t.Error("session did not end")
		}
	})
	return s, &clientConn{Conn: c, r: bufio.NewReader(c)}
}

// runPumps runs both pumps of s to the session's end, then closes ended.
func runPumps(s *session, ended chan<- struct{}) {
	defer close(ended)
	stop := context.AfterFunc(s.ctx, s.closeLegs)
	defer stop()
	done := make(chan struct{})
	go s.pumpDown(done, make([]byte, smallServerBuf), false)
	lr := newLineReader(s.client, maxClientLine)
	for first, fresh := true, false; s.pumpUp(lr, first, fresh); first, fresh = false, true {
	}
	<-done
	s.end()
}

// TestDrainAfterFailedWrite: once a write to the upstream failed, what the server still sends
// reaches the client; a server that then neither sends nor closes is given up on after
// drainTimeout, and the client's stream ends cleanly, with nothing invented.
func TestDrainAfterFailedWrite(t *testing.T) {
	failed := make(chan struct{})
	addr := listenUpstream(t, true, func(c net.Conn) {
		defer c.Close()
		io.WriteString(c, greeting)
		<-failed
		io.WriteString(c, "+OK late\r\n")
		io.Copy(io.Discard, c) // open, silent, until the proxy closes the leg
	})
	c, up, sink := pumpSession(t, addr)
	if l := c.line(t); l != greeting {
		t.Fatalf("greeting %q", l)
	}
	up.fail.Store(true)
	c.send(t, "NOOP\r\nNOOP\r\n")
	sink.find(t, "write error", func(e logview.Event) bool {
		return e.Kind == logview.KindError && strings.Contains(e.Err, "writing to upstream")
	})
	close(failed)
	got, err := io.ReadAll(c.r)
	if string(got) != "+OK late\r\n" || err != nil {
		t.Fatalf("client got %q, %v; want the late reply, then EOF", got, err)
	}
	sink.find(t, "drain deadline", func(e logview.Event) bool {
		return e.Kind == logview.KindError && strings.Contains(e.Err, "neither closed nor sent anything")
	})
	sink.find(t, "close", func(e logview.Event) bool {
		return e.Kind == logview.KindClose && e.Summary.Reason == "upstream write failed"
	})
}

// TestHeldLineWriteFailure: a held client line that cannot be forwarded when the server's
// answer releases it does not cut the server off; what it sends next reaches the client.
func TestHeldLineWriteFailure(t *testing.T) {
	gotAuth, answer, failed := make(chan struct{}), make(chan struct{}), make(chan struct{})
	addr := listenUpstream(t, true, func(c net.Conn) {
		defer c.Close()
		io.WriteString(c, greeting)
		if l, err := readLineByByte(c); err != nil || l != "AUTH PLAIN\r\n" {
			return
		}
		close(gotAuth)
		<-answer
		io.WriteString(c, "+ \r\n")
		<-failed
		io.WriteString(c, "-ERR [AUTH] aborted\r\n")
	})
	c, up, sink := pumpSession(t, addr)
	c.send(t, "AUTH PLAIN\r\nAHRlc3RlcgBsb25nc2VjcmV0\r\n") // the second line is held until the answer
	<-gotAuth
	up.fail.Store(true)
	close(answer)
	sink.find(t, "write error", func(e logview.Event) bool {
		return e.Kind == logview.KindError && strings.Contains(e.Err, "writing to upstream")
	})
	close(failed)
	got, err := io.ReadAll(c.r)
	if want := greeting + "+ \r\n-ERR [AUTH] aborted\r\n"; string(got) != want || err != nil {
		t.Fatalf("client got %q, %v; want %q, then EOF", got, err, want)
	}
	sink.find(t, "discarded anomaly", func(e logview.Event) bool {
		return e.Kind == logview.KindAnomaly && strings.Contains(e.Text, "discarded 26 bytes")
	})
}

// TestClientHalfClose: a client that sends its commands and half-closes still gets every
// reply; its end of stream reaches the server as a half-close, never as QUIT.
func TestClientHalfClose(t *testing.T) {
	addr := listenUpstream(t, true, func(c net.Conn) {
		defer c.Close()
		io.WriteString(c, greeting)
		got, _ := io.ReadAll(c) // replies only once the client's stream has ended
		if string(got) == "NOOP\r\nNOOP\r\n" {
			io.WriteString(c, "+OK 1\r\n+OK 2\r\n")
		}
	})
	p := startProxy(t, Config{UpstreamMode: popclient.UpstreamPlaintext, InsecureUpstreamPlaintext: true}, addr)
	c := p.dial(t, false)
	c.send(t, "NOOP\r\nNOOP\r\n")
	c.Conn.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c.r)
	if want := greeting + "+OK 1\r\n+OK 2\r\n"; string(got) != want || err != nil {
		t.Fatalf("client got %q, %v; want %q, then EOF", got, err, want)
	}
}
