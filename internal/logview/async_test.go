package logview

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// slowSink records events, taking its time over each, like a terminal that scrolls slowly.
type slowSink struct {
	mu    sync.Mutex
	delay time.Duration
	got   []string
}

func (s *slowSink) Emit(e Event) error {
	time.Sleep(s.delay)
	s.mu.Lock()
	s.got = append(s.got, e.Text)
	s.mu.Unlock()
	return nil
}

// TestAsyncBlockKeepsOrderAndDropsNothing checks OverflowBlock: a sink slower than the
// callers makes them wait, and every event arrives in order. After Shutdown events are
// dropped and counted, never written behind the caller's back.
func TestAsyncBlockKeepsOrderAndDropsNothing(t *testing.T) {
	for _, queue := range []int{1, 4, 0} {
		t.Run(fmt.Sprint("queue ", queue), func(t *testing.T) {
			next := &slowSink{delay: 100 * time.Microsecond}
			a := NewAsync(next, AsyncOptions{Queue: queue, Overflow: OverflowBlock})
			const n = 200
			var want []string
			for i := range n {
				text := fmt.Sprint("event ", i)
				want = append(want, text)
				if err := a.Emit(Event{Kind: KindCommand, Text: text}); err != nil {
					t.Fatal(err)
				}
			}
			shutdownOK(t, a)
			if err := a.Emit(Event{Kind: KindClose, Text: "after shutdown"}); err != nil {
				t.Fatal(err)
			}
			shutdownOK(t, a)
			if fmt.Sprint(next.got) != fmt.Sprint(want) {
				t.Fatalf("emitted %d events %v…, want %d in order", len(next.got), next.got[:min(5, len(next.got))], len(want))
			}
			if d := a.Dropped(); d != 1 {
				t.Errorf("Dropped = %d, want 1 (the event after Shutdown)", d)
			}
		})
	}
}

// shutdownOK shuts a down, giving it 10 s (the sinks of these tests are never stuck then).
func shutdownOK(t *testing.T, a interface{ Shutdown(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// stuckSink records events, but while its gate is closed every Emit waits, like a write to a
// pipe that nobody reads.
type stuckSink struct {
	gate    chan struct{} // closed by unblock
	entered chan struct{} // a value each time an Emit starts, when there is room
	mu      sync.Mutex
	got     []Event
}

func newStuckSink() *stuckSink {
	return &stuckSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func (s *stuckSink) Emit(e Event) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.gate
	s.mu.Lock()
	s.got = append(s.got, e)
	s.mu.Unlock()
	return nil
}

func (s *stuckSink) unblock() { close(s.gate) }

// texts lists what the sink received: each event's text, and "dropped OUTPUT N" for a
// dropped event.
func (s *stuckSink) texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return texts(s.got)
}

func texts(events []Event) []string {
	var out []string
	for _, e := range events {
		if e.Kind == KindDropped {
			out = append(out, fmt.Sprintf("dropped %s %d", e.Output, e.Dropped))
			continue
		}
		out = append(out, e.Text)
	}
	return out
}

// numbered returns the texts "from" to "to"-1.
func numbered(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

// emitAll emits the events numbered from to to-1, and fails t if that takes more than 10 s:
// Emit must never wait for a stuck output.
func emitAll(t *testing.T, s Sink, from, to int) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, text := range numbered(from, to) {
			s.Emit(Event{Kind: KindCommand, Text: text})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Emit waited for a stuck output")
	}
}

// syncOK waits until a has written everything, giving it 10 s.
func syncOK(t *testing.T, a *Async) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !a.sync(ctx) {
		t.Fatal("the output did not write what it had within 10 s")
	}
}

// stuckTee returns a Tee over a stderr that is stuck writing event 0, with a queue of four,
// and a log file that works, after emitting the events 0 to 99.
func stuckTee(t *testing.T) (stuck *stuckSink, file *recordSink, stderr, logFile *Async, tee *Tee) {
	t.Helper()
	stuck, file = newStuckSink(), &recordSink{}
	stderr = NewAsync(stuck, AsyncOptions{Queue: 4, Output: "stderr"})
	logFile = NewAsync(file, AsyncOptions{Output: "log-file"})
	tee = NewTee(stderr, stderr, logFile)
	emitAll(t, tee, 0, 1)
	<-stuck.entered
	emitAll(t, tee, 1, 100)
	return stuck, file, stderr, logFile, tee
}

// TestTeeStuckOutputCostsOnlyItsOwnEvents puts a stuck stderr and a working log file behind a
// Tee: Emit returns at once, stderr drops what its queue cannot hold and counts it, the file
// loses nothing; once stderr can write again it says how many events it lost, in their place,
// and the file records the same count.
func TestTeeStuckOutputCostsOnlyItsOwnEvents(t *testing.T) {
	stuck, file, stderr, logFile, tee := stuckTee(t)
	if d := stderr.Dropped(); d != 95 {
		t.Errorf("stderr Dropped = %d, want 95 (one being written, four queued)", d)
	}
	if d := logFile.Dropped(); d != 0 {
		t.Errorf("log file Dropped = %d, want 0: a stuck stderr must not cost the file events", d)
	}

	stuck.unblock()
	syncOK(t, stderr)
	syncOK(t, logFile)
	emitAll(t, tee, 100, 101)
	shutdownOK(t, tee)

	want := append(numbered(0, 5), "dropped stderr 95", "100")
	if got := stuck.texts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stderr got %v, want %v", got, want)
	}
	want = append(numbered(0, 100), "dropped stderr 95", "100")
	if got := texts(file.events()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("log file got %v, want %v", got, want)
	}
	for _, e := range file.events() {
		if e.Kind == KindDropped && e.Text != "95 events dropped: stderr could not keep up" {
			t.Errorf("dropped event text %q", e.Text)
		}
	}
}

// TestTeeShutdownGivesUpOnAStuckOutput checks that Shutdown returns by its deadline although
// stderr never writes again, counts everything stderr did not write as dropped, and records
// that count in the log file before it stops.
func TestTeeShutdownGivesUpOnAStuckOutput(t *testing.T) {
	stuck, file, stderr, logFile, tee := stuckTee(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := tee.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "stderr") {
		t.Errorf("Shutdown = %v, want a deadline error naming stderr", err)
	}
	if d := stderr.Dropped(); d != 100 {
		t.Errorf("stderr Dropped = %d, want 100: the event it is stuck writing, the four queued and the 95 dropped", d)
	}
	want := append(numbered(0, 100), "dropped stderr 100")
	if got := texts(file.events()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("log file got %v, want %v", got, want)
	}

	stuck.unblock()
	<-stderr.done
	if got := stuck.texts(); fmt.Sprint(got) != "[0]" {
		t.Errorf("stderr wrote %v after Shutdown gave up on it, want only the event it was stuck in", got)
	}
	tee.Emit(Event{Kind: KindCommand, Text: "late"})
	if d := logFile.Dropped(); d != 1 {
		t.Errorf("log file Dropped = %d after a late event, want 1", d)
	}
}

// TestAsyncBlockWaitsUntilRelease checks OverflowBlock: a full queue makes Emit wait without
// dropping, and Release lets it go, counting its event as dropped and saying so.
func TestAsyncBlockWaitsUntilRelease(t *testing.T) {
	stuck := newStuckSink()
	a := NewAsync(stuck, AsyncOptions{Queue: 1, Overflow: OverflowBlock})
	emitAll(t, a, 0, 1)
	<-stuck.entered
	emitAll(t, a, 1, 2) // fills the queue
	returned := make(chan struct{})
	go func() {
		a.Emit(Event{Kind: KindCommand, Text: "2"})
		close(returned)
	}()
	for waiting := false; !waiting; { // until that Emit waits for room
		a.mu.Lock()
		waiting = a.pending == 3
		a.mu.Unlock()
		runtime.Gosched()
	}
	if d := a.Dropped(); d != 0 {
		t.Fatalf("Dropped = %d while blocking, want 0", d)
	}
	a.Release()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Release did not free the waiting Emit")
	}
	if d := a.Dropped(); d != 1 {
		t.Errorf("Dropped = %d after Release, want 1", d)
	}
	stuck.unblock()
	shutdownOK(t, a)
	if got := stuck.texts(); fmt.Sprint(got) != "[0 1 dropped  1]" {
		t.Errorf("sink got %v, want [0 1 dropped  1]", got)
	}
}

func TestAsyncReporter(t *testing.T) {
	var rec recordSink
	a := NewAsync(&rec, AsyncOptions{})
	fmt.Fprintf(a.Reporter(), "logview: one\nlogview: two\n")
	shutdownOK(t, a)
	got := rec.events()
	if len(got) != 2 || got[0].Kind != KindWarning || got[1].Text != "logview: two" || got[0].V != Version {
		t.Errorf("reported %+v, want two warnings", got)
	}
}

func TestParseOverflow(t *testing.T) {
	for _, s := range []string{"drop", "block"} {
		if o, err := ParseOverflow(s); err != nil || string(o) != s {
			t.Errorf("ParseOverflow(%q) = %q, %v", s, o, err)
		}
	}
	if _, err := ParseOverflow("wait"); err == nil || !strings.HasPrefix(err.Error(), "logview: ") {
		t.Errorf("ParseOverflow(wait) = %v, want a logview error", err)
	}
}

// recordSink records every event.
type recordSink struct {
	mu  sync.Mutex
	got []Event
}

func (r *recordSink) Emit(e Event) error {
	r.mu.Lock()
	r.got = append(r.got, e)
	r.mu.Unlock()
	return nil
}

func (r *recordSink) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.got...)
}

// TestAsyncFlushesBurstsWithinLinger checks that a Deferred FileSink behind an Async sink
// shows a burst of events in the file without Close, and that Close writes the rest.
func TestAsyncFlushesBurstsWithinLinger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	fs, err := OpenFile(path, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fs.Deferred = true
	flushes := 0
	a := NewAsync(fs, AsyncOptions{Flush: []func() error{func() error { flushes++; return fs.Flush() }}})
	const burst = 100
	for i := range burst {
		a.Emit(Event{V: Version, Kind: KindCommand, Text: fmt.Sprint("line ", i)})
	}
	deadline := time.Now().Add(5 * time.Second)
	for countLines(t, path) < burst && time.Now().Before(deadline) {
		time.Sleep(Linger)
	}
	if n := countLines(t, path); n != burst {
		t.Fatalf("%d lines in the file %v after the burst, want %d", n, 5*time.Second, burst)
	}
	a.Emit(Event{V: Version, Kind: KindClose})
	shutdownOK(t, a)
	// How many flushes a burst takes depends on the machine's speed (one per Linger at most);
	// that the lines reached the file before Close shows that a flush came by itself.
	if flushes < 2 {
		t.Errorf("%d flushes: want one after the burst and one at Shutdown", flushes)
	}
	if n := countLines(t, path); n != burst+1 {
		t.Fatalf("%d lines after Shutdown, want %d", n, burst+1)
	}
	fs.Close()
}

// brokenPipe fails every write as a pipe whose reader has gone does (SIGPIPE ignored).
type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "/dev/stderr", Err: syscall.EPIPE}
}

// TestTeeFailingOutputIsCounted puts a stderr whose every write fails (a closed pipe) and a
// working log file behind a Tee: each event stderr could not write counts as dropped, and the
// log file is told how many, in a few dropped events rather than one per failed write.
func TestTeeFailingOutputIsCounted(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stderr func() (Sink, []func() error)
	}{
		{"buffered printer", func() (Sink, []func() error) {
			bw := bufio.NewWriter(brokenPipe{})
			return NewPrinter(bw, PrinterOptions{}), []func() error{bw.Flush}
		}},
		{"unbuffered JSON", func() (Sink, []func() error) { return NewJSONWriter(brokenPipe{}), nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink, flush := tt.stderr()
			file := &recordSink{}
			stderr := NewAsync(sink, AsyncOptions{Output: "stderr", Flush: flush})
			logFile := NewAsync(file, AsyncOptions{Output: "log-file"})
			tee := NewTee(stderr, stderr, logFile)
			const n = 300
			start := time.Now()
			for i := range n { // one at a time: every write fails on its own
				emitAll(t, tee, i, i+1)
				syncOK(t, stderr)
			}
			// What failed after the first report is told within failReportEvery, unprompted.
			deadline := time.Now().Add(10 * time.Second)
			for droppedSum(file.events()) < n && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			elapsed := time.Since(start)
			if said := droppedSum(file.events()); said != n {
				t.Errorf("before Shutdown, the log file was told of %d events dropped on stderr, want %d", said, n)
			}
			shutdownOK(t, tee)
			if d := stderr.Dropped(); d != n {
				t.Errorf("stderr Dropped = %d, want %d", d, n)
			}
			if d := logFile.Dropped(); d != 0 {
				t.Errorf("log file Dropped = %d, want 0", d)
			}
			var said, reports int64
			for _, e := range file.events() {
				if e.Kind != KindDropped {
					continue
				}
				reports++
				said += e.Dropped
				if e.Output != "stderr" || !strings.HasSuffix(e.Text, "dropped: stderr could not write (broken pipe)") {
					t.Errorf("dropped event %q for %q", e.Text, e.Output)
				}
			}
			if said != n {
				t.Errorf("the log file was told of %d events dropped on stderr, want %d", said, n)
			}
			// One at once, one per failReportEvery after it, and one at Shutdown.
			if most := 2 + int64(elapsed/failReportEvery); reports > most {
				t.Errorf("%d dropped events in %v, want at most %d", reports, elapsed, most)
			}
		})
	}
}

// droppedSum sums the counts of the dropped events among events.
func droppedSum(events []Event) int64 {
	var n int64
	for _, e := range events {
		if e.Kind == KindDropped {
			n += e.Dropped
		}
	}
	return n
}
