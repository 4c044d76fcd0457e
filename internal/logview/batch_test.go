package logview

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"
)

// count returns how many events s has taken.
func (s *slowSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// waitCount waits up to 5 s for s to have taken n events.
func waitCount(t *testing.T, s *slowSink, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.count() < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := s.count(); got != n {
		t.Fatalf("the sink took %d events, want %d", got, n)
	}
}

// TestAsyncTakesABurstInOneGo: with flush functions, the events of a burst after its first
// wait in the queue for the flush, so that an Emit wakes no goroutine, unless the queue is
// half full; Shutdown writes what waits. The flush here is an hour away: only a half-full
// queue and Shutdown get the events out.
func TestAsyncTakesABurstInOneGo(t *testing.T) {
	next := &slowSink{}
	flushes := 0
	a := newAsync(next, AsyncOptions{Queue: 8, Flush: []func() error{func() error { flushes++; return nil }}}, time.Hour)
	emit := func(i int) {
		if err := a.Emit(Event{Kind: KindCommand, Text: fmt.Sprint("event ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	emit(0)
	waitCount(t, next, 1) // the first event of a burst is taken at once
	emit(1)
	time.Sleep(50 * time.Millisecond)
	if n := next.count(); n != 1 {
		t.Fatalf("the sink took %d events before the flush was due, want 1: the goroutine woke for the second", n)
	}
	for i := 2; i <= 4; i++ { // 4 queued: half of 8
		emit(i)
	}
	waitCount(t, next, 5)
	emit(5)
	shutdownOK(t, a)
	if fmt.Sprint(next.got) != fmt.Sprint([]string{"event 0", "event 1", "event 2", "event 3", "event 4", "event 5"}) {
		t.Fatalf("the sink took %v", next.got)
	}
	if flushes == 0 {
		t.Error("Shutdown did not flush")
	}
}

// TestAsyncWithoutFlushTakesEachEvent: an output without flush functions writes each event as
// it comes, since nothing would write it later.
func TestAsyncWithoutFlushTakesEachEvent(t *testing.T) {
	next := &slowSink{}
	a := newAsync(next, AsyncOptions{Queue: 8}, time.Hour)
	for i := range 3 {
		if err := a.Emit(Event{Kind: KindCommand, Text: fmt.Sprint("event ", i)}); err != nil {
			t.Fatal(err)
		}
		waitCount(t, next, i+1)
	}
	shutdownOK(t, a)
}

// TestAsyncBurstOutlastsAFlush: a flush does not end a burst. The goroutine keeps waiting for
// the timer it set for the burst rather than for the queue, so that the next event, like
// every event of a busy session after the first, wakes no goroutine from Emit; the timer
// takes it within Linger. The timer here is an hour away: the flush in between is a barrier.
func TestAsyncBurstOutlastsAFlush(t *testing.T) {
	next := &slowSink{}
	a := newAsync(next, AsyncOptions{Queue: 8, Flush: []func() error{func() error { return nil }}}, time.Hour)
	if err := a.Emit(Event{Kind: KindCommand, Text: "event 0"}); err != nil {
		t.Fatal(err)
	}
	waitCount(t, next, 1) // the first event of a burst is taken at once
	syncOK(t, a)
	if err := a.Emit(Event{Kind: KindCommand, Text: "event 1"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := next.count(); n != 1 {
		t.Fatalf("the sink took %d events after a flush, want 1: the goroutine woke for the next event of the burst", n)
	}
	shutdownOK(t, a)
	if fmt.Sprint(next.got) != fmt.Sprint([]string{"event 0", "event 1"}) {
		t.Fatalf("the sink took %v", next.got)
	}
}

// TestAsyncSteadyStreamKeepsLinger: events that come without a pause, so that each burst
// runs into the next, reach a Deferred FileSink by themselves, the last one included,
// without Shutdown: the timer that takes a burst's events sets itself again while they come.
func TestAsyncSteadyStreamKeepsLinger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	fs, err := OpenFile(path, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	fs.Deferred = true
	a := NewAsync(fs, AsyncOptions{Flush: []func() error{fs.Flush}})
	const n = 200
	for i := range n { // over about 10 Linger
		a.Emit(Event{V: Version, Kind: KindCommand, Text: fmt.Sprint("line ", i)})
		time.Sleep(Linger / 20)
	}
	for deadline := time.Now().Add(5 * time.Second); countLines(t, path) < n && time.Now().Before(deadline); {
		time.Sleep(Linger)
	}
	if got := countLines(t, path); got != n {
		t.Fatalf("%d lines in the file 5 s after a steady stream of %d, want all", got, n)
	}
	shutdownOK(t, a)
}

// TestAsyncFullQueueAllocatesNothing: while the output is stuck and its queue full, an Emit
// only counts its event: it builds no dropped event it has no room to queue.
func TestAsyncFullQueueAllocatesNothing(t *testing.T) {
	stuck := newStuckSink()
	a := NewAsync(stuck, AsyncOptions{Queue: 4})
	emitAll(t, a, 0, 1)
	<-stuck.entered
	emitAll(t, a, 1, 10) // four queued, five dropped
	e := Event{Kind: KindCommand, Text: "late"}
	if n := testing.AllocsPerRun(100, func() { a.Emit(e) }); n != 0 {
		t.Errorf("an Emit on a full queue allocates %v times, want 0", n)
	}
	stuck.unblock()
	shutdownOK(t, a)
	if d := a.Dropped(); d != 5+101 {
		t.Errorf("Dropped = %d, want %d", d, 5+101)
	}
}
