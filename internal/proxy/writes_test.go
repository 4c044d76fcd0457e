package proxy

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
)

// writeCounter is a client leg that keeps what is written to it and counts the writes.
type writeCounter struct {
	net.Conn
	writes int
	got    bytes.Buffer
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.got.Write(p)
}

func (w *writeCounter) Close() error { return nil }

// countedSession returns a session under cfg whose client leg is a writeCounter, its upstream
// leg discarding what it is sent, with the greeting delivered and the count reset.
func countedSession(t *testing.T, cfg Config) (*session, *writeCounter) {
	t.Helper()
	cfg.Sink = logview.Discard
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &writeCounter{}
	s := newSession(srv, w, false, "writes")
	s.upConn = discardConn{}
	if err := s.serverBytes([]byte(greeting)); err != nil {
		t.Fatal(err)
	}
	w.writes = 0
	w.got.Reset()
	return s, w
}

// clientSends feeds each line to the session as pumpUp would.
func clientSends(t *testing.T, s *session, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !s.clientLine([]byte(l), true) {
			t.Fatalf("client line %q ended the session", l)
		}
	}
}

// serverSends feeds each chunk to the session as pumpDown would and returns the writes to the
// client it took.
func serverSends(t *testing.T, s *session, w *writeCounter, chunks ...string) int {
	t.Helper()
	before := w.writes
	for _, c := range chunks {
		if err := s.serverBytes([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	return w.writes - before
}

// TestDeniedPipelinedCommandKeepsBodyWhole: a denied command pipelined after a RETR must not
// make the body go out one line per write, and its answer goes out with the end of the body.
func TestDeniedPipelinedCommandKeepsBodyWhole(t *testing.T) {
	s, w := countedSession(t, Config{Deny: []string{"DELE"}})
	clientSends(t, s, "RETR 1\r\n", "DELE 1\r\n")
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n"
	chunk := "+OK message follows\r\n" + strings.Repeat(line, 400)
	if n := serverSends(t, s, w, chunk); n != 1 {
		t.Errorf("a %d-byte body chunk took %d writes, want 1", len(chunk), n)
	}
	if n := serverSends(t, s, w, line+".\r\n"); n != 1 {
		t.Errorf("the end of the body and the local answer took %d writes, want 1", n)
	}
	want := chunk + line + ".\r\n" + string(replyDenied)
	if w.got.String() != want {
		t.Errorf("client got %q…, want %q…", tail(w.got.String()), tail(want))
	}
}

// TestLocalAnswersCoalesce: local answers due in one turn go out in one write with the reply
// before them.
func TestLocalAnswersCoalesce(t *testing.T) {
	s, w := countedSession(t, Config{Deny: []string{"DELE"}})
	clientSends(t, s, "NOOP\r\n", "DELE 1\r\n", "DELE 2\r\n")
	if n := serverSends(t, s, w, "+OK\r\n"); n != 1 {
		t.Errorf("a reply and two local answers took %d writes, want 1", n)
	}
	if want := "+OK\r\n" + string(replyDenied) + string(replyDenied); w.got.String() != want {
		t.Errorf("client got %q, want %q", w.got.String(), want)
	}
}

// TestCAPARewriteIsOneWrite: a CAPA reply being rewritten goes out in one write per chunk, not
// one per line.
func TestCAPARewriteIsOneWrite(t *testing.T) {
	s, w := countedSession(t, Config{RequireTLS: true})
	clientSends(t, s, "CAPA\r\n")
	if n := serverSends(t, s, w, "+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN\r\nUIDL\r\nPIPELINING\r\n.\r\n"); n != 1 {
		t.Errorf("a rewritten CAPA reply took %d writes, want 1", n)
	}
	if want := "+OK Capability list follows\r\nTOP\r\nUIDL\r\nPIPELINING\r\n.\r\n"; w.got.String() != want {
		t.Errorf("client got %q, want %q", w.got.String(), want)
	}
}

// tail returns the last 80 bytes of s.
func tail(s string) string { return s[max(0, len(s)-80):] }

// TestUpstreamThatNeverReads: a server that keeps sending but stops reading must not keep a
// write to it blocked for as long as it sends: each write to the upstream has the idle
// timeout as its deadline, after which the upstream is lost (loseUpstream) and the client's
// input is discarded instead of piling up.
func TestUpstreamThatNeverReads(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	up := newUpstream(t, true, func(u *upstreamConn) {
		u.write(greeting)
		for { // unsolicited lines: the session is never idle
			u.write("-ERR still here\r\n")
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	p := startProxy(t, Config{UpstreamMode: popclient.UpstreamPlaintext, InsecureUpstreamPlaintext: true,
		IdleTimeout: 300 * time.Millisecond}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	go sendEndlessLine(c.Conn, stop)
	p.sink.find(t, "upstream write error", func(e logview.Event) bool {
		return e.Kind == logview.KindError && e.Leg == logview.LegUpstream && strings.Contains(e.Err, "writing to upstream")
	})
}

// sendEndlessLine writes one client line that never ends, until a write fails or stop closes.
func sendEndlessLine(c net.Conn, stop <-chan struct{}) {
	piece := []byte("NOOP " + strings.Repeat("x", 64<<10))
	for {
		select {
		case <-stop:
			return
		default:
		}
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Write(piece); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
	}
}
