package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// keyLogUpstream serves one TLS connection that writes its own key log to keys: a greeting,
// then +OK to every line until QUIT.
func keyLogUpstream(t *testing.T, keys *syncBuffer) string {
	t.Helper()
	good, _ := pkis(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{good.leaf}, KeyLogWriter: keys})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go serveKeyLogUpstream(ln, done)
	return ln.Addr().String()
}

func serveKeyLogUpstream(ln net.Listener, done chan<- struct{}) {
	defer close(done)
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte(greeting))
	r := bufio.NewReader(c)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		c.Write([]byte("+OK\r\n"))
		if strings.HasPrefix(l, "QUIT") {
			return
		}
	}
}

// TestKeyLogHoldsBothLegs runs a session whose client upgrades with STLS to a TLS upstream,
// with the client and the upstream each keeping a key log of their own: every line of theirs
// must be in popwire's key log (the same client random and secret, so each leg decrypts), and
// the session must warn that it can be decrypted.
func TestKeyLogHoldsBothLegs(t *testing.T) {
	good, _ := pkis(t)
	var popwireKeys, clientKeys, upstreamKeys syncBuffer
	p := startProxy(t, Config{KeyLog: &popwireKeys}, keyLogUpstream(t, &upstreamKeys))
	c := p.dial(t, false)
	c.line(t)
	exchange(t, c, "STLS\r\n")
	tc := tls.Client(c.Conn, &tls.Config{RootCAs: good.pool, ServerName: "localhost", KeyLogWriter: &clientKeys})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.Conn, c.r = tc, bufio.NewReader(tc)
	exchange(t, c, "NOOP\r\n", "QUIT\r\n")
	c.rest(t)
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })

	logged := map[string]bool{}
	for _, l := range popwireKeys.lines() {
		logged[l] = true
	}
	for leg, keys := range map[string]*syncBuffer{"client": &clientKeys, "upstream": &upstreamKeys} {
		lines := keys.lines()
		if len(lines) < 4 { // TLS 1.3: two handshake and two traffic secrets
			t.Fatalf("%s leg: the peer logged %d key lines: %q", leg, len(lines), lines)
		}
		for _, l := range lines {
			if !logged[l] {
				t.Errorf("%s leg: popwire's key log lacks %q", leg, l)
			}
		}
	}
	p.sink.find(t, "key log warning", func(e logview.Event) bool {
		return e.Kind == logview.KindWarning && e.Session != "" && strings.Contains(e.Text, "--keylog")
	})
}

// TestNoKeyLogWarningWithoutKeyLog checks that a session without a key log does not say it
// can be decrypted.
func TestNoKeyLogWarningWithoutKeyLog(t *testing.T) {
	up := newUpstream(t, false, scriptReplies(map[string]string{"QUIT": "+OK bye\r\n"}))
	p := startProxy(t, Config{}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	exchange(t, c, "QUIT\r\n")
	c.rest(t)
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	for _, e := range p.sink.kinds(logview.KindWarning) {
		t.Errorf("warning without a key log: %q", e.Text)
	}
}
