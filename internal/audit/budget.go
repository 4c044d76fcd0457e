package audit

import (
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// Budget bounds the memory that Messages keeping content (KeepBody) hold at once, across
// sessions. A Message charges each block it keeps content in from its allocation until the
// holders of the content let go of it (Kept.Drop) or, failing that, the garbage collector
// frees it, so that content handed out by Result stays charged for as long as anything (an
// event waiting in a log queue, a slow sink) still holds it. The outputs that encode it charge
// their copies too (Kept.Charge). A Message whose content would pass the budget leaves it out.
// A Budget is safe for concurrent use; its methods accept a nil Budget, which bounds nothing.
type Budget struct {
	limit      int64
	used       atomic.Int64
	lastPush   atomic.Int64 // when a refusal last asked for a collection, in Unix nanoseconds
	letGo      atomic.Int64 // bytes let go of (see dropped) since the last collection it asked for
	collecting atomic.Bool  // a collection that letGo asked for runs
}

// NewBudget returns a Budget of limit bytes.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Used returns the bytes charged: content kept, or handed out and not yet freed.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Hold charges s, a string of kept content that did not come from a Message (a rewritten
// copy), until the garbage collector frees it. It reports false, charging nothing, when that
// would pass the limit; the caller should then let go of s.
func (b *Budget) Hold(s string) bool {
	if b == nil || s == "" {
		return true
	}
	n := int64(len(s))
	if !b.reserve(n) {
		return false
	}
	runtime.AddCleanup(unsafe.StringData(s), b.release, n)
	return true
}

// alloc returns an empty buffer of capacity n charged to b until it is freed, and the cleanup
// that returns the charge. It reports false when b cannot cover it.
func (b *Budget) alloc(n int) ([]byte, runtime.Cleanup, bool) {
	if b == nil {
		return make([]byte, 0, n), runtime.Cleanup{}, true
	}
	if !b.reserve(int64(n)) {
		return nil, runtime.Cleanup{}, false
	}
	buf := make([]byte, 0, n)
	return buf, runtime.AddCleanup(&buf[:1][0], b.release, int64(n)), true
}

// reserve charges n bytes, or reports false and charges nothing when that would pass the limit.
func (b *Budget) reserve(n int64) bool {
	for {
		used := b.used.Load()
		if used+n > b.limit {
			b.push()
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// release returns n bytes of charge.
func (b *Budget) release(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}

// dropped returns the charge of n bytes of content, or of an output's copy of it, that its
// holders let go of (Kept.Drop, Kept.Uncharge). That memory is garbage now, not yet free: once
// as much as the limit has been let go of this way, a collection is started (one at a time),
// so that the heap follows the charge rather than growing to twice its peak before the
// collector's own pace frees it. (A quarter of the limit collected four times as often, for
// more CPU and a higher peak RSS under the benchmark: docs/performance.md.)
func (b *Budget) dropped(n int64) {
	if b == nil {
		return
	}
	b.release(n)
	if b.letGo.Add(n) < b.limit || !b.collecting.CompareAndSwap(false, true) {
		return
	}
	b.letGo.Store(0)
	go b.collectDropped()
}

// collectDropped runs the collection that dropped asked for.
func (b *Budget) collectDropped() {
	defer b.collecting.Store(false)
	collect()
}

// pushInterval is the least time between two collections a refusal starts.
const pushInterval = time.Second

// push starts a garbage collection, at most once per pushInterval, after a refusal: content
// that is no longer referenced stays charged until a collection frees it, and a proxy whose
// other allocations are few might otherwise keep refusing content for minutes after a burst.
func (b *Budget) push() {
	now := time.Now().UnixNano()
	last := b.lastPush.Load()
	if now-last < int64(pushInterval) || !b.lastPush.CompareAndSwap(last, now) {
		return
	}
	go collect()
}

// collect runs a garbage collection; the cleanups it makes due return their charges.
func collect() { runtime.GC() }
