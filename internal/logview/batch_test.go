package logview

import (
	"fmt"
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
