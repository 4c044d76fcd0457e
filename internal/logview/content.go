package logview

import (
	"encoding/json"
	"strings"
	"sync/atomic"
)

// Content is a message's content as a body event holds it (MessageInfo.Content, under
// --bodies full): its bytes in order, in one or more parts, never written to once the
// Content is made. The zero Content is no content.
//
// A Content made by NewContent is held: each holder (the recorder that made it, each Async
// that queues its event) has a reference, and once the last one is released the owner is
// told that no part is needed any more, so that the memory it charged for them returns at
// once rather than when the garbage collector frees it. A JSON output whose caller holds the
// only reference lets go of each part as soon as it has encoded it (see Sink).
type Content struct {
	parts []string
	hold  *contentHold // nil: nothing to release (ContentOf, a decoded log)
}

// ContentOwner is what charged the memory of a held Content's parts (the recorder's content
// budget). Its methods are called from any goroutine; Drop at most once per part.
type ContentOwner interface {
	// Drop lets go of part i: nothing reads it any more.
	Drop(i int)
	// Charge charges n bytes of a copy of the content an output makes (its JSON encoding)
	// and reports false, charging nothing, when that would pass the owner's limit.
	Charge(n int64) bool
	// Uncharge returns n bytes that Charge charged.
	Uncharge(n int64)
}

// contentHold is the shared state of a held Content: its references and its owner. Every
// copy of the Content shares its parts slice, whose entry is "" once the part is dropped.
type contentHold struct {
	refs  atomic.Int32
	owner ContentOwner
}

// ContentOf returns s as a Content of one part that no one holds.
func ContentOf(s string) Content {
	if s == "" {
		return Content{}
	}
	return Content{parts: []string{s}}
}

// NewContent returns a held Content of parts, with one reference, the caller's: release it
// with Release once done with the Content (after handing its event to Emit). owner is told of
// each part once no holder needs it. parts is the Content's from then on: the entry of a part
// let go of is set to "".
func NewContent(parts []string, owner ContentOwner) Content {
	h := &contentHold{owner: owner}
	h.refs.Store(1)
	return Content{parts: parts, hold: h}
}

// Len returns the bytes of content c holds.
func (c Content) Len() int {
	n := 0
	for _, p := range c.parts {
		n += len(p)
	}
	return n
}

// IsZero reports whether c holds no content, for JSON's omitzero.
func (c Content) IsZero() bool { return c.Len() == 0 }

// String returns the content as one string: its only part, or a copy of its parts joined.
func (c Content) String() string {
	if len(c.parts) == 1 {
		return c.parts[0]
	}
	return strings.Join(c.parts, "")
}

// Parts returns the parts of c, in order. The slice is c's: do not change it.
func (c Content) Parts() []string { return c.parts }

// Retain adds a reference to a held Content, for a holder that keeps it after the call that
// handed it over returns (an Async queueing its event); it does nothing for one not held.
func (c Content) Retain() {
	if c.hold != nil {
		c.hold.refs.Add(1)
	}
}

// Release gives up a reference; the last one lets go of every part. It does nothing for a
// Content not held.
func (c Content) Release() {
	if c.hold == nil || c.hold.refs.Add(-1) != 0 {
		return
	}
	for i := range c.parts {
		c.drop(i)
	}
}

// sole reports whether the caller's reference is the only one.
func (c Content) sole() bool { return c.hold != nil && c.hold.refs.Load() == 1 }

// drop tells the owner of a held c that part i is not needed and forgets it; it is called
// only by the last holder, so never concurrently. The owner stops what would return the charge
// at collection before the part is let go of.
func (c Content) drop(i int) {
	if c.parts[i] == "" {
		return
	}
	c.hold.owner.Drop(i)
	c.parts[i] = ""
}

// MarshalJSON encodes c as a JSON string, as the JSON lines writer does.
func (c Content) MarshalJSON() ([]byte, error) {
	b, _ := appendContent(nil, c, nil)
	return b, nil
}

// UnmarshalJSON decodes a JSON string into c, as one part that no one holds.
func (c *Content) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	*c = ContentOf(s)
	return nil
}

// Detach returns e as a Sink may keep it after Emit returns (a test's record of events):
// with a copy of its message content that no one holds, the parts of a held one being let go
// of once the holders release them.
func Detach(e Event) Event {
	if e.Message != nil && e.Message.Content.hold != nil {
		m := *e.Message
		m.Content = ContentOf(strings.Clone(m.Content.String()))
		e.Message = &m
	}
	return e
}
