package proxy

import (
	"errors"
	"os"
	"time"
)

// settleAfter is how long a leg must stay quiet before its pump goes on on a fresh goroutine
// (see freshStack): between settleAfter/2 and settleAfter after its last byte.
const settleAfter = 250 * time.Millisecond

// freshStack: why a pump goes on on a fresh goroutine once its leg is quiet. Logging a line or
// a reply (building the event, the recorder, a synchronous sink's encoding) and a TLS write
// grow a pump's stack past the starting size, and Go shrinks a parked goroutine's stack only
// to half and only when less than a quarter of it is in use, which the blocked read of a TLS
// leg exceeds: the goroutine that did the work would keep an 8 KiB stack for as long as the
// session idles. So while a leg is active its pump reads with a quiet deadline, settleAfter
// ahead and renewed at most every settleAfter/2 (a clock read per read, a deadline set a few
// times a second); when it passes, the read returns nothing lost (crypto/tls keeps a record
// read in part), and the pump goes on on a fresh goroutine, which waits for the next byte with
// no deadline, in a stack of the starting size; the old one's stack is freed
// (TestIdleSessionStacksStaySmall). A session that keeps talking starts no goroutine.

// quietDeadline is a pump's quiet deadline; only the pump's goroutine uses it.
type quietDeadline struct {
	armed bool      // the deadline is set on the leg
	at    time.Time // when it passes
}

// due reports whether the deadline is to be set (again) before a read at now.
func (q *quietDeadline) due(now time.Time) bool {
	return !q.armed || q.at.Sub(now) < settleAfter/2
}

// isTimeout reports whether err is a read that ran into its deadline.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// armDown sets pumpDown's quiet deadline on the upstream leg, unless the upstream is lost,
// when the drain deadline rules (loseUpstream sets it under s.mu).
func (s *session) armDown(q *quietDeadline) {
	now := time.Now()
	if !q.due(now) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.upLost.Load() {
		return
	}
	q.armed, q.at = true, now.Add(settleAfter)
	s.upConn.SetReadDeadline(q.at)
}

// clearDown takes pumpDown's quiet deadline off the upstream leg, unless the upstream is lost.
func (s *session) clearDown(q *quietDeadline) {
	q.armed = false
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.upLost.Load() {
		s.upConn.SetReadDeadline(time.Time{})
	}
}

// armUp sets pumpUp's quiet deadline on the client leg, unless the legs are closed, when
// closeLegs's deadline rules (stopClientReads, under legsMu).
func (s *session) armUp(q *quietDeadline, lr *lineReader) {
	now := time.Now()
	if !q.due(now) {
		return
	}
	s.legsMu.Lock()
	defer s.legsMu.Unlock()
	if s.closed {
		return
	}
	q.armed, q.at = true, now.Add(settleAfter)
	lr.quiet = true
	s.raw.SetReadDeadline(q.at)
}

// clearUp takes pumpUp's quiet deadline off the client leg, unless the legs are closed.
func (s *session) clearUp(q *quietDeadline, lr *lineReader) {
	q.armed, lr.quiet = false, false
	s.legsMu.Lock()
	defer s.legsMu.Unlock()
	if !s.closed {
		s.raw.SetReadDeadline(time.Time{})
	}
}
