package proxy

import (
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// bigMessage returns an unstuffed message of about size bytes and its stuffed RETR reply.
func bigMessage(size int) (content, reply string) {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nSubject: big\r\n\r\n")
	line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 2) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	content = b.String()
	return content, "+OK message follows\r\n" + content + ".\r\n"
}

// heapInUse returns the bytes of live heap objects after a full collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC() // a second cycle runs the cleanups and frees what they let go
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// readBody reads a multi-line reply to its terminator.
func (c *clientConn) readBody(t *testing.T) int {
	t.Helper()
	n := 0
	for {
		l := c.line(t)
		if l == ".\r\n" {
			return n
		}
		n += len(l)
	}
}

// TestBodiesFullKeepsOneCopy retrieves a large message under --bodies full through the sinks
// the serve command uses (JSON lines and a log file) and measures the live heap: while the
// body event is held, one copy of the content is alive; once it is dropped, none is, neither
// in the session that is still open nor in the sinks after it closed.
func TestBodiesFullKeepsOneCopy(t *testing.T) {
	const size = 8 << 20
	_, reply := bigMessage(size)
	up := newUpstream(t, false, scriptReplies(map[string]string{"USER bob": "+OK\r\n", "PASS s3cr3t-pw": "+OK\r\n",
		"RETR 1": reply, "NOOP": "+OK\r\n", "QUIT": "+OK bye\r\n"}))
	file, err := logview.OpenFile(filepath.Join(t.TempDir(), "log.jsonl"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	p := startProxy(t, Config{Log: LogOptions{Bodies: BodiesFull},
		Sink: sinks{logview.NewJSONWriter(io.Discard), file}}, up.addr())
	base := heapInUse()

	c := p.dial(t, false)
	c.line(t)
	c.send(t, "USER bob\r\nPASS s3cr3t-pw\r\nRETR 1\r\n")
	c.line(t)
	c.line(t)
	c.line(t)
	c.readBody(t)
	c.send(t, "NOOP\r\n") // its reply comes after the body event was emitted
	c.line(t)
	body := p.sink.find(t, "body", func(e logview.Event) bool { return e.Kind == logview.KindBody && e.Message != nil })
	if body.Message.Content.Len() < size {
		t.Fatalf("content of %d bytes kept, want the whole message", body.Message.Content.Len())
	}
	held := heapInUse() - base
	dropEvents(p.sink)
	open := heapInUse() - base

	c.send(t, "QUIT\r\n")
	c.rest(t)
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	dropEvents(p.sink)
	closed := heapInUse() - base
	t.Logf("live heap over the baseline: %d KiB with the event held, %d KiB once dropped, %d KiB after the session",
		held>>10, open>>10, closed>>10)
	if held > size*3/2 {
		t.Errorf("%d MiB live while the body event is held: more than one copy of the %d MiB content", held>>20, size>>20)
	}
	if open > size/4 || closed > size/4 {
		t.Errorf("content not returned: %d KiB live once the event was dropped, %d KiB after the session", open>>10, closed>>10)
	}
}

// sinks hands every event to each of its sinks in turn, on the caller's goroutine: what the
// outputs of a Tee do, without their queues, so that a test sees the memory they hold once
// they have written an event.
type sinks []logview.Sink

func (ss sinks) Emit(e logview.Event) error {
	for _, s := range ss {
		if err := s.Emit(e); err != nil {
			return err
		}
	}
	return nil
}

// dropEvents forgets the events a test sink collected.
func dropEvents(s *recSink) {
	s.mu.Lock()
	for _, e := range s.ev {
		if e.Message != nil {
			e.Message.Content.Release()
		}
	}
	s.ev = nil
	s.mu.Unlock()
}

// TestContentBudgetAcrossSessions retrieves more content in concurrent sessions than the
// content budget holds, while every event is kept: the content kept stays within the budget,
// each message beyond it is marked as left out, and once the events are dropped the budget is
// free again for the next session.
func TestContentBudgetAcrossSessions(t *testing.T) {
	const size, sessions, budget = 6 << 20, 5, 20 << 20
	content, reply := bigMessage(size)
	up := newUpstream(t, false, scriptReplies(map[string]string{"USER bob": "+OK\r\n", "PASS s3cr3t-pw": "+OK\r\n",
		"RETR 1": reply, "QUIT": "+OK bye\r\n"}))
	p := startProxy(t, Config{Log: LogOptions{Bodies: BodiesFull, ContentBudget: budget}}, up.addr())
	retrieve := func(n int) {
		clients := make([]*clientConn, n)
		for i := range clients {
			clients[i] = p.dial(t, false)
		}
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Go(func() {
				if _, err := io.WriteString(c, "USER bob\r\nPASS s3cr3t-pw\r\nRETR 1\r\nQUIT\r\n"); err != nil {
					t.Error(err)
					return
				}
				if got, err := io.ReadAll(c.r); err != nil || !strings.HasSuffix(string(got), "+OK bye\r\n") {
					t.Errorf("client read %d bytes, error %v", len(got), err)
				}
			})
		}
		wg.Wait()
		p.sink.wait(t, logview.KindClose, n)
	}

	retrieve(sessions)
	kept, omitted := 0, 0
	for _, e := range p.sink.kinds(logview.KindBody) {
		switch m := e.Message; {
		case m == nil:
		case m.ContentOmitted && m.Content.Len() == 0:
			omitted++
		case !m.ContentOmitted && m.Content.String() == content:
			kept++
		default:
			t.Errorf("message event with %d bytes of content, omitted %v", m.Content.Len(), m.ContentOmitted)
		}
	}
	t.Logf("%d messages kept, %d left out; budget charged %d MiB", kept, omitted, p.srv.cfg.Log.budget.Used()>>20)
	if kept+omitted != sessions || kept*size > budget {
		t.Errorf("%d messages kept and %d left out of %d, with room for %d", kept, omitted, sessions, budget/size)
	}

	dropEvents(p.sink)
	if used := p.srv.cfg.Log.budget.Used(); used != 0 {
		t.Fatalf("budget still charged %d bytes once every holder let go of its event, with no collection", used)
	}
	retrieve(1)
	if m := p.sink.find(t, "body", func(e logview.Event) bool { return e.Message != nil }).Message; m.Content.String() != content {
		t.Errorf("after the budget was returned, the next message kept %d bytes (omitted %v)", m.Content.Len(), m.ContentOmitted)
	}
}

// wait waits up to 5 s for n events of kind k.
func (r *recSink) wait(t *testing.T, k logview.Kind, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(r.kinds(k)) < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d %s events, want %d", len(r.kinds(k)), k, n)
		}
	}
}

// all returns the events collected so far.
func (r *recSink) all() []logview.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logview.Event(nil), r.ev...)
}

// kinds returns the events of kind k collected so far.
func (r *recSink) kinds(k logview.Kind) []logview.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logview.Event
	for _, e := range r.ev {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// TestContentScrubbedAcrossBlocks retrieves, under --bodies full, a message whose content
// echoes the password at every offset around the end of its first kept block (4 KiB) and
// the user name likewise, and checks that no output holds either: content that is logged in
// the blocks it was kept in is scrubbed across their boundaries too.
func TestContentScrubbedAcrossBlocks(t *testing.T) {
	const secret = "s3cr3t-pw"
	for shift := range len(secret) + 1 {
		msg := "Subject: echo\r\n\r\n" + strings.Repeat("x", 4096-17-len(secret)+shift) + secret +
			"\r\n" + strings.Repeat("y", 4096) + "\r\n"
		up := newUpstream(t, false, scriptReplies(map[string]string{"USER bob": "+OK\r\n", "PASS " + secret: "+OK\r\n",
			"RETR 1": "+OK\r\n" + msg + ".\r\n", "QUIT": "+OK bye\r\n"}))
		p := startProxy(t, Config{Log: LogOptions{Bodies: BodiesFull}}, up.addr())
		c := p.dial(t, false)
		c.send(t, "USER bob\r\nPASS "+secret+"\r\nRETR 1\r\nQUIT\r\n")
		c.rest(t)
		body := p.sink.find(t, "body", func(e logview.Event) bool { return e.Message != nil })
		if got := body.Message.Content.String(); strings.Contains(got, secret) || !strings.Contains(got, "[redacted]") {
			t.Errorf("shift %d: content holds the password or no marker (%d bytes)", shift, len(got))
		}
		for name, out := range allOutputs(t, p.sink.all()) {
			if strings.Contains(out, secret) {
				t.Errorf("shift %d: %s output holds the password", shift, name)
			}
		}
	}
}
