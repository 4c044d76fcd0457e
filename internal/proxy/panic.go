package proxy

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/popwire/popwire/internal/logview"
)

// maxPanicFrames caps the stack a panic event shows.
const maxPanicFrames = 32

// recoverPanic, deferred at the top of each of a session's goroutines (run, the pumps, the
// handshake and dial goroutines, the timers), turns a panic of that goroutine into the end of
// this session alone: the session finishes with reason "panic" and the panic is logged as an
// error event with its stack (see panicEvent). Every other session goes on.
func (s *session) recoverPanic(where string) {
	v := recover()
	if v == nil {
		return
	}
	s.finish("panic")
	emitSafely(s.rec.event, panicEvent(where, v))
}

// recoverPanic, deferred at the top of a server goroutine that is not a session (a refusal),
// logs a panic of that goroutine, which then ends, and lets the server go on.
func (s *Server) recoverPanic(where string) {
	if v := recover(); v != nil {
		emitSafely(s.emit, panicEvent(where, v))
	}
}

// emitSafely emits e, giving up when that panics too: the sink may be what panicked.
func emitSafely(emit func(logview.Event), e logview.Event) {
	defer func() { _ = recover() }()
	emit(e)
}

// panicEvent returns the error event for a panic recovered on the goroutine named where; it
// must be called by the deferred function that recovered it. It holds no secret: the panic
// value is shown only when it is a runtime error (whose text names types and indexes, never
// data), any other value only by its type; the stack, in extra.stack, lists function names and
// source lines, without the argument words of a Go traceback.
func panicEvent(where string, v any) logview.Event {
	what := fmt.Sprintf("a value of type %T", v)
	if re, ok := v.(runtime.Error); ok {
		what = re.Error()
	}
	e := logview.Event{Kind: logview.KindError, Err: oneLine("proxy: panic in "+where+": "+what, 300)}
	e.Extra, _ = json.Marshal(struct {
		Stack []string `json:"stack"`
	}{panicStack()})
	return e
}

// panicStack returns the frames of the panicking goroutine below runtime.gopanic, as
// "function dir/file.go:line".
func panicStack() []string {
	pcs := make([]uintptr, maxPanicFrames+8) // room for the frames above runtime.gopanic
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	var stack []string
	below := false
	for {
		f, more := frames.Next()
		if below && len(stack) < maxPanicFrames {
			stack = append(stack, fmt.Sprintf("%s %s:%d", f.Function, filepath.Join(filepath.Base(filepath.Dir(f.File)), filepath.Base(f.File)), f.Line))
		}
		below = below || f.Function == "runtime.gopanic"
		if !more {
			return stack
		}
	}
}
