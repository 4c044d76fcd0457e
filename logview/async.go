package logview

import (
	"sync"
	"time"
)

// DefaultQueue is the queue length NewAsync uses when given zero.
const DefaultQueue = 1024

// Linger is how long after the first unflushed event an Async sink calls its flush functions:
// the most a line waits before it reaches a terminal or a file.
const Linger = 5 * time.Millisecond

// Async is a Sink that takes events off the caller's path: Emit queues the event and returns,
// and one goroutine formats and writes queued events to the wrapped sink, in order. Forwarding
// therefore never waits for a terminal or a disk, only for a queue slot: when the queue is full
// Emit waits (back-pressure), so no event is ever dropped. Close drains the queue.
//
// Sinks that buffer (a Deferred FileSink, a Printer on a bufio.Writer) are flushed by the
// goroutine Linger after the first event of a burst, so output costs one write per burst
// rather than one per event.
//
// Events must not be changed after Emit; the proxy builds a fresh Event for every call.
type Async struct {
	next  Sink
	flush []func() error
	ch    chan Event
	done  chan struct{}
	mu    sync.RWMutex // held for reading by Emit, for writing by Close
	close bool
	late  sync.Mutex // serialises the events emitted after Close, which bypass the goroutine
}

// NewAsync starts the goroutine that feeds next and returns the sink; queue <= 0 means
// DefaultQueue. The goroutine calls every flush function Linger after the first event it
// emitted since the last flush, and once more when it stops. Call Close to stop it.
func NewAsync(next Sink, queue int, flush ...func() error) *Async {
	if queue <= 0 {
		queue = DefaultQueue
	}
	a := &Async{next: next, flush: flush, ch: make(chan Event, queue), done: make(chan struct{})}
	go a.drain()
	return a
}

// drain emits queued events until Close. Write errors are the wrapped sink's to report (a
// FileSink reports them once on stderr); they never stop the queue.
func (a *Async) drain() {
	defer close(a.done)
	timer := time.NewTimer(Linger)
	timer.Stop()
	dirty := false
	for {
		select {
		case e, ok := <-a.ch:
			if !ok {
				a.flushAll()
				return
			}
			_ = a.next.Emit(e)
			if !dirty && len(a.flush) > 0 {
				dirty = true
				timer.Reset(Linger)
			}
		case <-timer.C:
			dirty = false
			a.flushAll()
		}
	}
}

// flushAll calls the flush functions; their errors are theirs to report.
func (a *Async) flushAll() {
	for _, f := range a.flush {
		_ = f()
	}
}

// Emit queues e. After Close it emits e synchronously, so that late events (a session closing
// during shutdown) are not lost.
func (a *Async) Emit(e Event) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.close {
		<-a.done // keep the order: everything queued before Close goes first
		a.late.Lock()
		defer a.late.Unlock()
		err := a.next.Emit(e)
		a.flushAll()
		return err
	}
	a.ch <- e
	return nil
}

// Close waits until every queued event was emitted and stops the goroutine. It is safe to call
// more than once.
func (a *Async) Close() error {
	a.mu.Lock()
	if !a.close {
		a.close = true
		close(a.ch)
	}
	a.mu.Unlock()
	<-a.done
	return nil
}
