package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
)

// TestEndlessServerLine: a server that answers with a line that never ends (64 MiB without an
// LF, then it hangs up) has every byte relayed, while the proxy's memory stays what a session
// costs: neither the tracker nor the log keeps the line.
func TestEndlessServerLine(t *testing.T) {
	const half = 32 << 20
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	midway := make(chan struct{})
	stop := t.Context()
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write(greeting)
		if _, err := u.line(); err != nil {
			return
		}
		u.write("+OK ")
		for range 2 {
			for n := 0; n < half; n += len(chunk) {
				if _, err := u.Write(chunk); err != nil {
					return
				}
			}
			select {
			case <-midway:
			case <-stop.Done():
				return
			}
		}
	})
	p := startProxy(t, Config{Deny: []string{"DELE"}}, up.addr())
	c := p.dial(t, false)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.line(t)
	base := heapInUse()
	c.send(t, "NOOP\r\nDELE 1\r\n")
	var got atomic.Int64
	bad := make(chan string, 1)
	read := make(chan error, 1)
	go func() { read <- countBytes(c.r, "+OK ", 'x', &got, bad) }()
	for got.Load() < half+4 {
		select {
		case err := <-read:
			t.Fatalf("client stream ended after %d bytes: %v", got.Load(), err)
		case <-time.After(time.Millisecond):
		}
	}
	held := heapInUse() - base
	close(midway)
	if err := <-read; err != nil {
		t.Fatalf("client read: %v", err)
	}
	select {
	case b := <-bad:
		t.Fatalf("client got %q where the server's line was", b)
	default:
	}
	if n := got.Load(); n != 2*half+4 {
		t.Fatalf("client got %d bytes of the line, want %d", n, 2*half+4)
	}
	t.Logf("live heap %d KiB over the session's start with %d MiB of one line relayed", held>>10, half>>20)
	if held > 4<<20 {
		t.Errorf("%d MiB live after %d MiB of one server line: the line is kept", held>>20, half>>20)
	}
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	p.sink.mu.Lock()
	defer p.sink.mu.Unlock()
	for _, e := range p.sink.ev {
		if len(e.Text) > 64<<10 {
			t.Errorf("a %s event holds %d bytes of text", e.Kind, len(e.Text))
		}
	}
}

// countBytes reads r to its end, which must be prefix and then only fill bytes, counting what
// it read in n; the first unexpected bytes go to bad.
func countBytes(r io.Reader, prefix string, fill byte, n *atomic.Int64, bad chan<- string) error {
	buf := make([]byte, 64<<10)
	want := []byte(prefix)
	for {
		k, err := r.Read(buf)
		for _, b := range buf[:k] {
			ok := b == fill
			if len(want) > 0 {
				ok, want = b == want[0], want[1:]
			}
			if !ok {
				select {
				case bad <- string(buf[:k]):
				default:
				}
				break
			}
		}
		n.Add(int64(k))
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// TestUnsolicitedFloodWhilePipelining: a server that sends three unsolicited lines before
// each reply, while the client pipelines allowed and denied commands, throws the pairing of
// replies off, but not the policy: no denied command reaches it, every byte it sent reaches
// the client in order, and the session neither stalls nor loses its end.
func TestUnsolicitedFloodWhilePipelining(t *testing.T) {
	const rounds = 300
	junk := "-ERR unsolicited\r\n+OK unsolicited\r\n-ERR [SYS/TEMP] unsolicited\r\n"
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write(greeting + junk)
		for {
			l, err := u.line()
			if err != nil {
				return
			}
			if l == "QUIT\r\n" {
				u.write("+OK bye\r\n")
				return
			}
			u.write(junk + "+OK\r\n")
		}
	})
	p := startProxy(t, Config{Deny: []string{"DELE"}}, up.addr())
	c := p.dial(t, false)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.send(t, strings.Repeat("NOOP\r\nDELE 1\r\n", rounds)+"QUIT\r\n")
	got := c.rest(t)
	var fromServer strings.Builder
	denied := 0
	for l := range strings.Lines(got) {
		if l == string(replyDenied) {
			denied++
			continue
		}
		fromServer.WriteString(l)
	}
	if want := greeting + junk + strings.Repeat(junk+"+OK\r\n", rounds) + "+OK bye\r\n"; fromServer.String() != want {
		t.Errorf("the server's lines reached the client as %d bytes, want %d", fromServer.Len(), len(want))
	}
	if denied != rounds {
		t.Errorf("%d DELEs answered locally, want %d", denied, rounds)
	}
	if u := up.next(t).all(t); u != strings.Repeat("NOOP\r\n", rounds)+"QUIT\r\n" {
		t.Errorf("upstream got %d bytes, with %d DELEs", len(u), strings.Count(u, "DELE"))
	}
}

// queues samples the lengths of s's queues: the local answers waiting, the lines held during
// AUTH, and the commands awaiting replies. It reports ok=false when s.mu is taken (a pump
// may hold it while it waits to write to the client).
func (s *session) queues() (localq, held, pending int, ok bool) {
	if !s.mu.TryLock() {
		return 0, 0, 0, false
	}
	defer s.mu.Unlock()
	return len(s.localq), len(s.held), s.t.Pending(), true
}

// TestPipelineFloodWithoutReading: a client that pipelines 100,000 commands and reads nothing
// while the server does not answer, or answers into a client that does not read, cannot make
// the session queue without bound: the local answers waiting, the lines held during AUTH and
// the commands awaiting replies stay within the pipelining limits, the live heap stays small,
// and once the server answers and the client reads, every reply arrives, in order.
func TestPipelineFloodWithoutReading(t *testing.T) {
	const n = 100000
	tests := []struct {
		name    string
		cfg     Config
		early   bool   // the server answers first at once, into a client that reads nothing
		first   string // the command the server answers only when the test says so, unless early
		line    string // what the client then pipelines n times
		answer  string // the server's answer to first
		replies string // what the client gets for the n lines
	}{
		{"denied commands behind an unanswered one", Config{Deny: []string{"DELE"}}, false, "NOOP\r\n", "DELE 1\r\n", "+OK\r\n", strings.Repeat(string(replyDenied), n)},
		{"lines held behind an unanswered AUTH", Config{Deny: []string{"DELE"}}, false, "AUTH PLAIN\r\n", "NOOP\r\n", "-ERR [AUTH] no\r\n", strings.Repeat("+OK\r\n", n)},
		{"replies into a client that does not read", Config{}, true, "NOOP\r\n", "NOOP\r\n", "+OK\r\n", strings.Repeat("+OK\r\n", n)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer := make(chan struct{})
			stop := t.Context()
			up := newUpstream(t, true, func(u *upstreamConn) {
				u.SetDeadline(time.Now().Add(60 * time.Second))
				u.write(greeting)
				if _, err := u.line(); err != nil {
					return
				}
				select {
				case <-answer:
				case <-stop.Done():
					return
				}
				u.write(tt.answer)
				w := bufio.NewWriter(u.Conn)
				for {
					l, err := u.r.ReadString('\n')
					if err != nil {
						w.Flush()
						return
					}
					if l == "NOOP\r\n" {
						w.WriteString("+OK\r\n")
					}
					if u.r.Buffered() == 0 {
						w.Flush()
					}
				}
			})
			tt.cfg.Sink = logview.Discard // events are built, and let go of at once
			s, c := runSession(t, tt.cfg, up.addr(), nil)
			c.SetDeadline(time.Now().Add(60 * time.Second))
			if tt.early {
				close(answer)
			}
			base := heapInUse()
			sent := make(chan error, 1)
			go func() {
				_, err := io.WriteString(c, tt.first+strings.Repeat(tt.line, n))
				sent <- err
			}()
			var most [3]int
			for range 300 {
				if q, h, p, ok := s.queues(); ok {
					most = [3]int{max(most[0], q), max(most[1], h), max(most[2], p)}
				}
				time.Sleep(time.Millisecond)
			}
			heap := heapInUse() - base
			t.Logf("at most %d local answers waiting, %d lines held, %d commands pending; live heap %d KiB over the start",
				most[0], most[1], most[2], heap>>10)
			if most[0] > pendingHigh+1 || most[1] > heldHigh+1 || most[2] > pendingHigh+1 {
				t.Errorf("queues grew past the pipelining limits (%d pending, %d held)", pendingHigh, heldHigh)
			}
			if heap > 8<<20 {
				t.Errorf("%d MiB live while the client floods", heap>>20)
			}
			select {
			case <-answer:
			default:
				close(answer)
			}
			want := greeting + tt.answer + tt.replies
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c.r, got); err != nil || string(got) != want {
				t.Fatalf("client got %d bytes (%v), want %d: %q…", len(got), err, len(want), got[:min(len(got), 200)])
			}
			if err := <-sent; err != nil {
				t.Fatalf("client write: %v", err)
			}
		})
	}
}

// inRecords is a TLS upstream that greets with hello and answers from replies, sending
// everything in TLS records of at most size bytes.
func inRecords(size int, hello string, replies map[string]string) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		say := func(s string) error {
			for len(s) > 0 {
				n := min(size, len(s))
				if _, err := io.WriteString(c, s[:n]); err != nil { // one record per write
					return err
				}
				s = s[n:]
			}
			return nil
		}
		if say(hello) != nil {
			return
		}
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil || say(replies[strings.TrimRight(l, "\r\n")]) != nil || l == "QUIT\r\n" {
				return
			}
		}
	}
}

// TestOneByteRecords: a server that sends its greeting and its replies one byte per TLS record
// gets to the client exactly what it gets when it sends each whole, the CAPA reply rewritten
// the same way (STLS offered or added, USER and SASL hidden under RequireTLS) and local answers
// in the same places, whether the server ends its lines with CRLF or, throughout, bare LF.
func TestOneByteRecords(t *testing.T) {
	replies := map[string]string{
		"CAPA": "+OK Capability list follows\r\nTOP\r\nUSER\r\nSTLS\r\nSASL PLAIN LOGIN\r\nPIPELINING\r\n.\r\n",
		"NOOP": "+OK " + strings.Repeat("y", 300) + "\r\n", "QUIT": "+OK bye\r\n",
	}
	lfOnly := map[string]string{"CAPA": "+OK\nTOP\nUSER\nSASL PLAIN\n.\n", "NOOP": replies["NOOP"][:304] + "\n", "QUIT": "+OK bye\n"}
	session := "CAPA\r\nNOOP\r\nDELE 1\r\nUSER bob\r\nNOOP\r\nQUIT\r\n"
	for _, server := range []struct {
		hello   string
		replies map[string]string
	}{{greeting, replies}, {strings.TrimSuffix(greeting, "\r\n") + "\n", lfOnly}} {
		for _, cfg := range []Config{{Deny: []string{"DELE"}, RequireTLS: true}, {Deny: []string{"DELE"}}} {
			whole := startProxy(t, cfg, listenUpstream(t, false, inRecords(1<<20, server.hello, server.replies)))
			c := whole.dial(t, false)
			c.send(t, session)
			want := c.rest(t)
			if !strings.Contains(want, "STLS") || !strings.Contains(want, string(replyDenied)) || strings.Contains(want, "SASL") == cfg.RequireTLS {
				t.Fatalf("with whole writes the client got %q", want)
			}
			bytewise := startProxy(t, cfg, listenUpstream(t, false, inRecords(1, server.hello, server.replies)))
			c = bytewise.dial(t, false)
			c.send(t, session)
			if got := c.rest(t); got != want {
				t.Fatalf("with one byte per record the client got %q, want %q", got, want)
			}
		}
	}
}

// TestTrickledGreeting: a server that sends its greeting a byte at a time and never ends it
// keeps every read short of the dial timeout; the whole dial, greeting included, still ends
// at the timeout, with one -ERR line.
func TestTrickledGreeting(t *testing.T) {
	addr := listenUpstream(t, false, func(c net.Conn) {
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "+OK"); err != nil {
			return
		}
		for {
			time.Sleep(20 * time.Millisecond)
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	})
	const timeout = 500 * time.Millisecond
	p := startProxy(t, Config{DialTimeout: timeout}, addr)
	c := p.dial(t, false)
	start := time.Now()
	got := c.rest(t)
	if !strings.HasPrefix(got, "-ERR [SYS/TEMP] ") || !strings.Contains(got, "greeting failed") || strings.Count(got, "\n") != 1 {
		t.Fatalf("client got %q, want one -ERR line naming the greeting", got)
	}
	if took := time.Since(start); took > 20*timeout {
		t.Fatalf("the dial took %v with a %v timeout", took, timeout)
	}
}

// TestLoginTimeoutWhileClientDoesNotRead: a server that floods unsolicited lines into a client
// that reads nothing keeps the server pump stuck in a write to the client, with the session
// lock held; the login timeout must still end the session, without a word to the server.
func TestLoginTimeoutWhileClientDoesNotRead(t *testing.T) {
	line := "-ERR " + strings.Repeat("z", 1000) + "\r\n"
	up := newUpstream(t, true, func(u *upstreamConn) {
		u.write(greeting)
		for {
			if _, err := io.WriteString(u.Conn, line); err != nil {
				return
			}
		}
	})
	p := startProxyCert(t, Config{LoginTimeout: 300 * time.Millisecond, UpstreamMode: popclient.UpstreamPlaintext, InsecureUpstreamPlaintext: true}, up.addr())
	c := p.dial(t, false)
	c.Conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	p.closeReason(t, "login timeout")
	if got := up.next(t).all(t); got != "" {
		t.Fatalf("upstream got %q", got)
	}
}
