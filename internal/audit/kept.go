package audit

import (
	"runtime"
	"strings"
)

// Kept is the content a Message kept for KeepBody, as Result hands it out: the content in
// Parts, in order, each part lying in a block of its own that is charged to the Message's
// Budget. The zero Kept holds no content.
//
// A block's charge returns when Drop lets go of it or, for a block never dropped, once the
// garbage collector frees it. Parts are never written again once handed out. The Parts of a
// Kept and its Drop may be used from another goroutine than the Message's once the Message
// was Reset; Charge and Uncharge are safe for concurrent use.
type Kept struct {
	Parts []string // the content, in order; part i lies in block i
	set   *blockSet
}

// blockSet is the blocks a Message keeps content in and the charge of each. It is shared by
// the Message and every Kept its Results handed out, until the Message is Reset.
type blockSet struct {
	budget  *Budget
	caps    []int             // per block: its capacity, the bytes charged
	charges []runtime.Cleanup // per block: returns its charge once the collector frees it
	dropped []bool            // per block: Drop returned its charge
}

// Len returns the bytes of content k holds.
func (k Kept) Len() int {
	n := 0
	for _, p := range k.Parts {
		n += len(p)
	}
	return n
}

// String returns the content as one string: the only part itself, or a copy of the parts
// joined.
func (k Kept) String() string {
	if len(k.Parts) == 1 {
		return k.Parts[0]
	}
	return strings.Join(k.Parts, "")
}

// Drop lets go of part i, whose bytes nothing will read any more, and returns its charge to
// the Budget at once. Dropping a part twice returns its charge once.
func (k Kept) Drop(i int) {
	if k.set != nil {
		k.set.drop(i)
	}
}

// Charge charges n bytes of a copy made of the content (an output's encoding of it) to the
// Budget of the Message, and reports false, charging nothing, when that would pass its limit.
func (k Kept) Charge(n int64) bool {
	if k.set == nil || k.set.budget == nil {
		return true
	}
	return k.set.budget.reserve(n)
}

// Uncharge returns n bytes that Charge charged, once the copy is let go of: like a dropped
// part, it counts towards the collection the Budget asks for (see Budget.dropped).
func (k Kept) Uncharge(n int64) {
	if k.set != nil {
		k.set.budget.dropped(n)
	}
}

// add records a new block of capacity c and its charge.
func (s *blockSet) add(c int, charge runtime.Cleanup) {
	s.caps = append(s.caps, c)
	s.charges = append(s.charges, charge)
	s.dropped = append(s.dropped, false)
}

// drop returns the charge of block i unless it was returned before.
func (s *blockSet) drop(i int) {
	if s.dropped[i] {
		return
	}
	s.dropped[i] = true
	s.charges[i].Stop()
	s.budget.dropped(int64(s.caps[i]))
}
