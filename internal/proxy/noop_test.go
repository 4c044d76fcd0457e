package proxy

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// countingSink passes events on to next and counts them.
type countingSink struct {
	next logview.Sink
	n    atomic.Int64
}

func (c *countingSink) Emit(e logview.Event) error {
	err := c.next.Emit(e)
	c.n.Add(1)
	return err
}

// fullLog returns the outputs serve sets up for the full log (a text transcript on a buffered
// writer and a deferred JSON log file, each behind an Async), a func that reports whether
// they have both written every event emitted, and a func that shuts them down.
func fullLog(t testing.TB) (logview.Sink, func() bool, func()) {
	transcript := bufio.NewWriterSize(io.Discard, 64<<10)
	printer := &countingSink{next: logview.NewPrinter(transcript, logview.PrinterOptions{Location: time.UTC})}
	stderr := logview.NewAsync(printer, logview.AsyncOptions{Flush: []func() error{transcript.Flush}, Output: "stderr"})
	file, err := logview.OpenFile(filepath.Join(t.TempDir(), "log.jsonl"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	file.Deferred = true
	jsonLog := &countingSink{next: file}
	logFile := logview.NewAsync(jsonLog, logview.AsyncOptions{Flush: []func() error{file.Flush}, Output: "log-file"})
	tee := logview.NewTee(stderr, stderr, logFile)
	emitted := &countingSink{next: tee}
	written := func() bool { return printer.n.Load() == emitted.n.Load() && jsonLog.n.Load() == emitted.n.Load() }
	return emitted, written, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tee.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		file.Close()
	}
}

// loggedInSession returns a session with the full log whose client logged in with USER and
// PASS, its legs writing nowhere, so that a test can drive one round trip after another.
func loggedInSession(t testing.TB) (*session, func() bool, func()) {
	sink, written, stop := fullLog(t)
	srv, err := New(Config{Sink: sink, Log: LogOptions{Bodies: BodiesHeaders}})
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(srv, discardConn{}, false, "noop")
	s.upConn = discardConn{}
	exchange := func(line, reply string) {
		if line != "" && !s.clientLine([]byte(line), true) {
			t.Fatalf("%q was not forwarded", line)
		}
		if err := s.serverBytes([]byte(reply)); err != nil {
			t.Fatal(err)
		}
	}
	exchange("", greeting)
	exchange("USER alice\r\n", "+OK\r\n")
	exchange("PASS hunter2-secret\r\n", "+OK 2 messages\r\n")
	return s, written, stop
}

// noopLine and noopReply are a NOOP round trip's bytes.
var noopLine, noopReply = []byte("NOOP\r\n"), []byte("+OK\r\n")

// noop runs one NOOP round trip through s.
func noop(t testing.TB, s *session) {
	if !s.clientLine(noopLine, true) {
		t.Fatal("NOOP was not forwarded")
	}
	if err := s.serverBytes(noopReply); err != nil {
		t.Fatal(err)
	}
}

// TestNOOPAllocatesNothing checks that a NOOP round trip through a logged-in session with the
// full log allocates nothing: not on the pumps' path (framing, recording, queueing the command
// and the reply), nor on the outputs' goroutines that format and write them. Each run waits
// until both outputs have written the round trip's command and reply (a Linger at most).
func TestNOOPAllocatesNothing(t *testing.T) {
	s, written, stop := loggedInSession(t)
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for !written() && time.Now().Before(deadline) { // the login's events
		runtime.Gosched()
	}
	allocs := testing.AllocsPerRun(50, func() {
		noop(t, s)
		for !written() && time.Now().Before(deadline) {
			runtime.Gosched()
		}
	})
	if !written() {
		t.Fatal("the outputs did not write every event within 10 s")
	}
	if allocs != 0 {
		t.Errorf("%v allocations per NOOP round trip with the full log, want 0", allocs)
	}
}

// BenchmarkNOOP is one NOOP round trip through a logged-in session with the full log, without
// the network.
func BenchmarkNOOP(b *testing.B) {
	s, _, stop := loggedInSession(b)
	defer stop()
	b.ReportAllocs()
	for b.Loop() {
		noop(b, s)
	}
}
