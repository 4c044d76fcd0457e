package logview

// Sink receives events. Implementations are safe for concurrent use. Emit must not keep e or
// anything e points to after it returns.
type Sink interface {
	Emit(e Event) error
}

// Discard is a Sink that drops every event.
var Discard Sink = discard{}

type discard struct{}

func (discard) Emit(Event) error { return nil }
