package logview

import "errors"

// Sink receives events. Implementations are safe for concurrent use. Emit must not keep e or
// anything e points to after it returns.
type Sink interface {
	Emit(e Event) error
}

// Multi returns a Sink that passes every event to each of sinks in order. Every sink sees every
// event even if an earlier one fails; the errors are joined. Nil sinks are skipped.
func Multi(sinks ...Sink) Sink {
	kept := make(multi, 0, len(sinks))
	for _, s := range sinks {
		if s != nil {
			kept = append(kept, s)
		}
	}
	return kept
}

type multi []Sink

func (m multi) Emit(e Event) error {
	var errs []error
	for _, s := range m {
		if err := s.Emit(e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Discard is a Sink that drops every event.
var Discard Sink = discard{}

type discard struct{}

func (discard) Emit(Event) error { return nil }
