package logview

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueue is the queue length NewAsync uses when given zero.
const DefaultQueue = 1024

// Linger is how long after the first unflushed event an Async sink calls its flush functions:
// the most a line waits before it reaches a terminal or a file.
const Linger = 5 * time.Millisecond

// failReportEvery is how often, at most, an output whose writes fail tells its peers how many
// events it lost since it last told them: a closed pipe fails every write, and one dropped
// event per failed write would double the JSON log.
const failReportEvery = time.Second

// Overflow is what an Async does with an event that finds its queue full.
type Overflow string

const (
	// OverflowDrop drops the event and counts it: Emit never waits, and once the output can
	// write again it writes one dropped event saying how many it lost.
	OverflowDrop Overflow = "drop"
	// OverflowBlock makes Emit wait for room (back-pressure): nothing is lost while the output
	// is slow, but a stalled output stalls every caller until Release.
	OverflowBlock Overflow = "block"
)

// ParseOverflow parses an overflow policy: "drop" or "block".
func ParseOverflow(s string) (Overflow, error) {
	switch o := Overflow(s); o {
	case OverflowDrop, OverflowBlock:
		return o, nil
	}
	return "", fmt.Errorf("logview: overflow policy must be drop or block (got %q)", s)
}

// AsyncOptions configures NewAsync. The zero value is a DefaultQueue-long queue that drops
// events when it is full, without flush functions.
type AsyncOptions struct {
	Queue    int            // queue length; <= 0 means DefaultQueue
	Flush    []func() error // called Linger after the first event of a burst, and at Shutdown
	Output   string         // the output's name in its dropped events: "stderr", "log-file"
	Overflow Overflow       // "" means OverflowDrop
}

// Async is a Sink that takes events off the caller's path: Emit queues the event and returns,
// and one goroutine formats and writes queued events to the wrapped sink, in order, so that
// forwarding never waits for a terminal or a disk. When the queue is full the event is
// dropped and counted (OverflowDrop, the default) or Emit waits for room (OverflowBlock).
// Dropped events are never silent: once the output takes an event again, a KindDropped event
// saying how many were lost is written in their place, and handed to the Async's peers (see
// Tee). An event the output fails to write (a closed pipe: the wrapped sink's Emit or a flush
// function returns an error) is dropped and counted too, with the others written since the
// last flush (part of them may have reached the output), and its peers are told how many,
// at once and then at most every failReportEvery, the rest at Shutdown. Dropped returns the
// total.
//
// Sinks that buffer (a Deferred FileSink, a Printer on a bufio.Writer) are flushed by the
// goroutine Linger after the first event of a burst, so output costs one write per burst
// rather than one per event. With flush functions the goroutine also takes the events of a
// burst after its first in one go, when the flush is due or the queue is half full, rather
// than waking for each: an Emit then never wakes a goroutine, which would cost the caller a
// system call on its forwarding path for every event. A burst lasts while events come: when
// the flush found events queued, the goroutine sets its timer again and takes the next ones
// Linger later, rather than waiting on the queue, so that a steady stream (a busy session)
// wakes it from Emit never, not once per Linger; only the first event after a Linger without
// any is taken at once, and a half-full queue or a barrier (Shutdown) still wakes it.
//
// Events must not be changed after Emit; the proxy builds a fresh Event for every call.
type Async struct {
	next    Sink
	content bool // next writes message content: queued events keep theirs (see keep)
	flush   []func() error
	output  string
	ch      chan item
	kick    chan struct{} // the queue is half full or a barrier waits in it: the goroutine takes what waits now (see wake)
	linger  time.Duration // Linger, but in tests
	stop    chan struct{} // closed to end the goroutine
	done    chan struct{} // closed when the goroutine has returned
	release chan struct{} // closed by Release: Emits waiting for room give up
	dropped atomic.Int64  // every event lost, for Dropped

	releaseOnce sync.Once
	waiting     sync.WaitGroup // Emits waiting for room

	mu        sync.Mutex  // guards what follows; never held while writing or waiting
	block     bool        // OverflowBlock, until Release
	stopped   bool        // the goroutine was told to end: events are dropped
	abandoned atomic.Bool // Shutdown gave up on the output: nothing more is written or settled; set under mu, read by the goroutine without it
	lost      int64       // events dropped and not yet in a queued dropped event
	unsaid    int64       // events the output failed to write, not yet told to the peers
	why       string      // why the last write failed
	pending   int64       // events queued, or written and not yet flushed
	reporting int64       // the counts of dropped events queued, or written and not yet flushed
	peers     []*Async    // where this output's dropped events also go
}

// item is one entry of an Async queue: an event, this output's own dropped event (report > 0),
// or a barrier (ack set) that the goroutine answers once everything before it is flushed.
type item struct {
	e      Event
	report int64
	ack    chan struct{}
}

// NewAsync starts the goroutine that feeds next and returns the sink. Call Shutdown to stop it.
func NewAsync(next Sink, opts AsyncOptions) *Async { return newAsync(next, opts, Linger) }

// newAsync is NewAsync with the flush delay linger.
func newAsync(next Sink, opts AsyncOptions, linger time.Duration) *Async {
	queue := opts.Queue
	if queue <= 0 {
		queue = DefaultQueue
	}
	a := &Async{next: next, content: usesContent(next), flush: opts.Flush, output: opts.Output, ch: make(chan item, queue),
		kick: make(chan struct{}, 1), linger: linger,
		stop: make(chan struct{}), done: make(chan struct{}), release: make(chan struct{}),
		block: opts.Overflow == OverflowBlock}
	go a.drain()
	return a
}

// Emit queues e. A full queue drops e and counts it, or with OverflowBlock waits for room
// until Release. After Shutdown, events are dropped and counted.
func (a *Async) Emit(e Event) error {
	e = a.keep(e)
	a.mu.Lock()
	switch {
	case !a.stopped && a.tryLocked(item{e: e}):
		a.mu.Unlock()
		return nil
	case a.stopped || !a.block:
		a.loseLocked()
		a.mu.Unlock()
		letGo(e)
		return nil
	}
	a.pending++
	a.waiting.Add(1)
	a.mu.Unlock()
	defer a.waiting.Done()
	select {
	case a.ch <- item{e: e}:
		a.kickIfHalfFull()
	case <-a.release:
		a.mu.Lock()
		a.pending--
		a.loseLocked()
		a.mu.Unlock()
		letGo(e)
	}
	return nil
}

// contentUser is a Sink that says whether it writes the content of a body event's message.
type contentUser interface {
	usesContent() bool
}

// usesContent reports whether s may write message content; a Sink that does not say may.
func usesContent(s Sink) bool {
	u, ok := s.(contentUser)
	return !ok || u.usesContent()
}

// keep returns e as the queue keeps it: with a reference to its held message content when
// the output writes content, or else with a copy of its message that leaves the content out,
// so that an output that never writes it does not keep it in memory.
func (a *Async) keep(e Event) Event {
	m := e.Message
	if m == nil || m.Content.hold == nil {
		return e
	}
	if !a.content {
		bare := *m
		bare.Content = Content{}
		e.Message = &bare
		return e
	}
	m.Content.Retain()
	return e
}

// letGo gives up the reference keep took, once the event is written or dropped.
func letGo(e Event) {
	if e.Message != nil {
		e.Message.Content.Release()
	}
}

// offer queues e without ever waiting, whatever the policy; a full queue drops it.
func (a *Async) offer(e Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped || !a.tryLocked(item{e: e}) {
		a.loseLocked()
	}
}

// tryLocked queues it without waiting, after the dropped event that reports the events lost
// before it, and reports whether it was queued. a.mu is held.
func (a *Async) tryLocked(it item) bool {
	if a.lost > 0 {
		if len(a.ch) == cap(a.ch) {
			return false // no room for the dropped event: build none (a full queue stays cheap)
		}
		select {
		case a.ch <- item{e: a.droppedEvent(a.lost, "could not keep up"), report: a.lost}:
			a.reporting += a.lost
			a.lost = 0
		default:
			return false
		}
	}
	select {
	case a.ch <- it:
		if it.ack == nil {
			a.pending++
			a.kickIfHalfFull()
		} else {
			a.wake()
		}
		return true
	default:
		return false
	}
}

// kickIfHalfFull wakes the goroutine when the queue is half full (see wake).
func (a *Async) kickIfHalfFull() {
	if len(a.ch) >= cap(a.ch)/2 {
		a.wake()
	}
}

// wake tells the goroutine, when it takes a burst's events in one go, to take what is queued
// now: the queue is half full, or a barrier (sync) waits in it.
func (a *Async) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// loseLocked counts one dropped event. a.mu is held.
func (a *Async) loseLocked() {
	a.lost++
	a.dropped.Add(1)
}

// Dropped returns how many events this output has lost: dropped on a full queue or after
// Shutdown, or given up on by Shutdown.
func (a *Async) Dropped() int64 {
	return a.dropped.Load()
}

// droppedEvent is the event that says this output lost n events, and why.
func (a *Async) droppedEvent(n int64, why string) Event {
	noun := "events"
	if n == 1 {
		noun = "event"
	}
	return Stamp(Event{Kind: KindDropped, Output: a.output, Dropped: n,
		Text: fmt.Sprintf("%d %s dropped: %s %s", n, noun, a.name(), why)})
}

// name is the output's name for messages.
func (a *Async) name() string {
	if a.output == "" {
		return "the output"
	}
	return a.output
}

// Release makes an OverflowBlock Async drop events instead of waiting from now on, and lets
// every Emit waiting for room return (its event counted as dropped). Shutdown calls it; call
// it sooner when callers must stop waiting, as when a shutdown's grace period is over.
func (a *Async) Release() {
	a.releaseOnce.Do(func() {
		a.mu.Lock()
		a.block = false
		a.mu.Unlock()
		close(a.release)
	})
}

// Reporter returns a writer that queues each line written to it as a warning event, never
// waiting (a full queue drops it): where a FileSink reports its trouble without depending on
// the speed of stderr.
func (a *Async) Reporter() io.Writer {
	return reporter{a}
}

type reporter struct{ a *Async }

func (r reporter) Write(p []byte) (int, error) {
	for line := range bytes.Lines(p) {
		if line = bytes.TrimRight(line, "\r\n"); len(line) > 0 {
			r.a.offer(Stamp(Event{Kind: KindWarning, Text: string(line)}))
		}
	}
	return len(p), nil
}

// drain writes queued items until it is stopped or given up on. Write errors are the wrapped
// sink's to report (a FileSink reports them once); they never stop the queue.
func (a *Async) drain() {
	defer close(a.done)
	timer := time.NewTimer(a.linger)
	timer.Stop()
	armed := false            // timer is set: queued events wait for it (or a kick), the queue is not watched
	var taken, reported int64 // written since the last flush
	var failed error          // the first write error since the last flush
	report := time.NewTimer(failReportEvery)
	report.Stop()
	reportDue := false // report is set to tell the failures held back
	var told time.Time // when failures were last told to the peers
	tell := func() {
		reportDue = false
		if e, ok := a.takeUnsaid(); ok {
			a.tellPeers(e)
			told = time.Now()
		}
	}
	flush := func() {
		for _, f := range a.flush {
			if err := f(); err != nil && failed == nil {
				failed = err
			}
		}
		unsaid := a.settle(taken, reported, failed)
		taken, reported, failed = 0, 0, nil
		switch wait := failReportEvery - time.Since(told); {
		case !unsaid || reportDue:
		case wait <= 0:
			tell()
		default:
			reportDue = true
			report.Reset(wait)
		}
	}
	write := func(it item) bool {
		defer letGo(it.e)
		if a.abandoned.Load() {
			return false
		}
		if err := a.next.Emit(it.e); err != nil && failed == nil {
			failed = err
		}
		if it.report > 0 {
			a.tellPeers(it.e)
			reported += it.report
		} else {
			taken++
		}
		if len(a.flush) == 0 {
			flush()
			return true
		}
		if !armed {
			armed = true
			timer.Reset(a.linger)
		}
		return true
	}
	take := func(it item) bool {
		if it.ack != nil {
			flush()
			close(it.ack)
			return true
		}
		return write(it)
	}
	// takeQueued takes what is queued now, not what comes while it writes.
	takeQueued := func() bool {
		for n := len(a.ch); n > 0; n-- {
			if !take(<-a.ch) {
				return false
			}
		}
		return true
	}
	for {
		in := a.ch
		if armed {
			in = nil // a burst: its events wait for the timer or a kick
		}
		select {
		case it := <-in:
			if !take(it) {
				return
			}
		case <-a.kick:
			if !takeQueued() {
				return
			}
		case <-timer.C:
			armed = false
			if !takeQueued() { // events taken re-arm the timer: the burst goes on
				return
			}
			if taken > 0 || reported > 0 { // written since the last flush
				flush()
			}
		case <-report.C:
			tell()
		case <-a.stop:
			return
		}
		if n := a.lostWhenIdle(); n > 0 && !write(item{e: a.droppedEvent(n, "could not keep up"), report: n}) {
			return
		}
	}
}

// settle records that taken events and reported drop counts were written and flushed; when
// failed is not nil, the taken events count as dropped, to be told to the peers. It reports
// whether failures wait to be told.
func (a *Async) settle(taken, reported int64, failed error) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.abandoned.Load() {
		return false
	}
	a.pending -= taken
	a.reporting -= reported
	if failed != nil && taken > 0 {
		a.dropped.Add(taken)
		a.unsaid += taken
		a.why = "could not write (" + rootCause(failed).Error() + ")"
	}
	return a.unsaid > 0
}

// rootCause returns the innermost error err wraps: "broken pipe" rather than "logview: print
// event: write /dev/stderr: broken pipe".
func rootCause(err error) error {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err
		}
		err = inner
	}
}

// takeUnsaid returns the dropped event that tells the output's failed writes not yet told,
// and whether there are any.
func (a *Async) takeUnsaid() (Event, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.unsaid == 0 || a.abandoned.Load() {
		return Event{}, false
	}
	e := a.droppedEvent(a.unsaid, a.why)
	a.unsaid = 0
	return e, true
}

// lostWhenIdle returns the events lost since the last dropped event when the queue is empty,
// so that the goroutine reports them now rather than with the next event; 0 otherwise.
func (a *Async) lostWhenIdle() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lost == 0 || len(a.ch) > 0 {
		return 0
	}
	n := a.lost
	a.lost = 0
	a.reporting += n
	return n
}

// tellPeers hands this output's dropped event to its peers, without waiting.
func (a *Async) tellPeers(e Event) {
	a.mu.Lock()
	peers := a.peers
	a.mu.Unlock()
	for _, p := range peers {
		p.offer(e)
	}
}

// settled reports whether everything queued was written and flushed and nothing is lost
// unreported, or the goroutine was stopped (what it did not write is counted in Dropped).
func (a *Async) settled() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopped || a.lost == 0 && a.pending == 0 && a.reporting == 0
}

// sync waits until everything queued is written and flushed, the drops reported included, or
// until ctx is done; it reports whether the output got there.
func (a *Async) sync(ctx context.Context) bool {
	for !a.settled() {
		ack := make(chan struct{})
		barrier := item{ack: ack}
		a.mu.Lock()
		queued := a.tryLocked(barrier)
		a.mu.Unlock()
		if !queued {
			select {
			case a.ch <- barrier:
				a.wake()
			case <-ctx.Done():
				return false
			}
		}
		select {
		case <-ack:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// abandon gives up on an output that could not write what it had in time: it writes nothing
// more, and what it had not written counts as dropped. It returns the events lost without a
// dropped event on this output to say so (events written but not flushed included, since
// they may not have reached it).
func (a *Async) abandon() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.abandonLocked()
}

// abandonLocked is abandon with a.mu held; it returns 0 when the output was already given up on.
func (a *Async) abandonLocked() int64 {
	if a.abandoned.Load() {
		return 0
	}
	a.abandoned.Store(true)
	a.dropped.Add(a.pending)
	n := a.lost + a.pending + a.reporting + a.unsaid
	a.lost, a.pending, a.reporting, a.unsaid = 0, 0, 0, 0
	return n
}

// end tells the goroutine to return; what is still queued (events emitted since the last
// sync) is not written and counts as dropped, as do later events.
func (a *Async) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.stopped {
		a.stopped = true
		a.abandonLocked()
		close(a.stop)
	}
}

// Shutdown writes what is queued and stops the goroutine, by ctx's deadline. An output that
// cannot write by then is given up on: its goroutine writes nothing more (a write it is stuck
// in may still complete), what it had not written is counted in Dropped, and the error says
// so. Later events are dropped and counted. It is safe to call more than once.
func (a *Async) Shutdown(ctx context.Context) error {
	return shutdown(ctx, []*Async{a})
}

// shutdown stops outs together by ctx's deadline. Waiting Emits are released first; then each
// output writes what it has queued. Those that cannot within three quarters of the time left
// are given up on, and how many events each lost goes, as a dropped event, to the others,
// which write it in the time that remains; so do the failed writes an output has not told yet.
func shutdown(ctx context.Context, outs []*Async) error {
	for _, a := range outs {
		a.Release()
		a.waiting.Wait() // released: each returns at once
	}
	first := ctx
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		first, cancel = context.WithDeadline(ctx, d.Add(-time.Until(d)/4))
		defer cancel()
	}
	ok := syncAll(first, outs)
	var healthy []*Async
	var errs []error
	type loss struct {
		from *Async
		e    Event
	}
	var lost []loss
	for i, a := range outs {
		if ok[i] {
			healthy = append(healthy, a)
			if e, failed := a.takeUnsaid(); failed {
				lost = append(lost, loss{a, e})
			}
			continue
		}
		n := a.abandon()
		errs = append(errs, fmt.Errorf("logview: %s could not write %d events before the deadline: %w", a.name(), n, first.Err()))
		if n > 0 {
			lost = append(lost, loss{a, a.droppedEvent(n, "was still blocked when logging stopped")})
		}
	}
	if len(lost) > 0 {
		for _, a := range healthy {
			for _, l := range lost {
				if l.from != a {
					a.offer(l.e)
				}
			}
		}
		for i, done := range syncAll(ctx, healthy) {
			if !done {
				n := healthy[i].abandon()
				errs = append(errs, fmt.Errorf("logview: %s could not write %d events before the deadline: %w", healthy[i].name(), n, ctx.Err()))
			}
		}
	}
	for _, a := range outs {
		a.end()
	}
	return errors.Join(errs...)
}

// syncAll syncs outs in parallel and reports, for each, whether it got there.
func syncAll(ctx context.Context, outs []*Async) []bool {
	ok := make([]bool, len(outs))
	var wg sync.WaitGroup
	for i, a := range outs {
		wg.Go(func() { ok[i] = a.sync(ctx) })
	}
	wg.Wait()
	return ok
}

// Tee is a Sink that hands every event to each of its outputs, each an Async with its own
// queue and goroutine, so that an output that cannot keep up loses only its own events. The
// dropped event an output writes once it can write again is also handed to the other outputs,
// so that the JSON log records what the terminal lost and the terminal shows what the JSON log
// lost. A notices output takes those dropped events only (stderr under --log-format none).
type Tee struct {
	outs []*Async // take every event
	all  []*Async // outs and the notices output
}

// NewTee returns a Tee over outs; notices (nil: none) receives only the outputs' dropped
// events, and may be one of outs.
func NewTee(notices *Async, outs ...*Async) *Tee {
	t := &Tee{outs: outs, all: outs}
	if notices != nil && !contains(outs, notices) {
		t.all = append(append([]*Async(nil), outs...), notices)
	}
	for _, a := range t.all {
		var peers []*Async
		for _, p := range t.all {
			if p != a {
				peers = append(peers, p)
			}
		}
		a.mu.Lock()
		a.peers = peers
		a.mu.Unlock()
	}
	return t
}

func contains(outs []*Async, a *Async) bool {
	for _, o := range outs {
		if o == a {
			return true
		}
	}
	return false
}

// Emit hands e to every output; an output with OverflowBlock may make it wait.
func (t *Tee) Emit(e Event) error {
	for _, a := range t.outs {
		_ = a.Emit(e) // an Async never fails: it drops and counts instead
	}
	return nil
}

// Release releases every output (see Async.Release).
func (t *Tee) Release() {
	for _, a := range t.all {
		a.Release()
	}
}

// Shutdown stops every output by ctx's deadline (see Async.Shutdown); the count of events an
// output lost at the end goes to the others.
func (t *Tee) Shutdown(ctx context.Context) error {
	return shutdown(ctx, t.all)
}
