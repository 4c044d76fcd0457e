package logview

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"sync"
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

func TestAsyncKeepsOrderAndDropsNothing(t *testing.T) {
	for _, queue := range []int{1, 4, 0} {
		t.Run(fmt.Sprint("queue ", queue), func(t *testing.T) {
			next := &slowSink{delay: 100 * time.Microsecond}
			a := NewAsync(next, queue)
			const n = 200
			var want []string
			for i := range n {
				text := fmt.Sprint("event ", i)
				want = append(want, text)
				if err := a.Emit(Event{Kind: KindCommand, Text: text}); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			late := Event{Kind: KindClose, Text: "after close"}
			if err := a.Emit(late); err != nil {
				t.Fatal(err)
			}
			a.Close()
			want = append(want, late.Text)
			if fmt.Sprint(next.got) != fmt.Sprint(want) {
				t.Fatalf("emitted %d events %v…, want %d in order", len(next.got), next.got[:min(5, len(next.got))], len(want))
			}
		})
	}
}

func TestAsyncEmitDoesNotWaitForTheSink(t *testing.T) {
	block := make(chan struct{})
	next := &blockingSink{release: block}
	a := NewAsync(next, 8)
	done := make(chan struct{})
	go func() {
		for range 8 {
			a.Emit(Event{Kind: KindCommand})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Emit waited for a blocked sink although the queue had room")
	}
	close(block)
	a.Close()
	if next.n != 8 {
		t.Fatalf("sink got %d events, want 8", next.n)
	}
}

// blockingSink blocks every Emit until release is closed.
type blockingSink struct {
	release chan struct{}
	n       int
}

func (b *blockingSink) Emit(Event) error {
	<-b.release
	b.n++
	return nil
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
	a := NewAsync(fs, 0, func() error { flushes++; return fs.Flush() })
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
	a.Close()
	// How many flushes a burst takes depends on the machine's speed (one per Linger at most);
	// that the lines reached the file before Close shows that a flush came by itself.
	if flushes < 2 {
		t.Errorf("%d flushes: want one after the burst and one at Close", flushes)
	}
	if n := countLines(t, path); n != burst+1 {
		t.Fatalf("%d lines after Close, want %d", n, burst+1)
	}
	fs.Close()
}

// TestAsyncLateEmitsAreSerialised emits from many goroutines after Close into a sink that is
// not safe for concurrent use, as a bufio.Writer behind a Printer is not: the race detector
// must stay quiet and every event must arrive.
func TestAsyncLateEmitsAreSerialised(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	a := NewAsync(NewJSONWriter(w), 0, w.Flush)
	a.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				a.Emit(Event{V: Version, Kind: KindWarning, Text: "late"})
			}
		}()
	}
	wg.Wait()
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 80 {
		t.Fatalf("%d lines, want 80", n)
	}
}
