package logview

// Sink receives events. Implementations are safe for concurrent use. Emit must not keep e or
// anything e points to after it returns (Detach makes a copy that it may keep). A held message
// content (see Content) may be let go of part by part while Emit encodes it, when the caller
// holds its only reference: do not read it after Emit without a reference of your own.
type Sink interface {
	Emit(e Event) error
}

// Discard is a Sink that drops every event.
var Discard Sink = discard{}

type discard struct{}

func (discard) Emit(Event) error { return nil }
