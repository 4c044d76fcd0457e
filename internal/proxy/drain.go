package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// How long the end of a session waits for a peer. A server that stops accepting our writes
// has usually closed after answering (Dovecot's "-ERR Input buffer full, aborting"): what it
// sent before is relayed, its leg read until it ends or stays silent for drainTimeout. The
// client leg ends with a half-close after the last byte and lingers up to lingerTimeout for
// the client to close in turn, so that unread client input never turns the close into a reset
// that discards what the kernel has not yet delivered.
const (
	drainTimeout  = 5 * time.Second
	lingerTimeout = 2 * time.Second
	lingerPoll    = 10 * time.Millisecond // how often a lingering close looks again
)

// loseUpstream handles a failed write to the upstream: the server may have closed after
// answering, so nothing more is written to it, pumpUp discards the client's further input
// (a client still writing must not be kept from reading), and pumpDown reads on, for what the
// server sent before, until the upstream ends or stays silent for drainTimeout. A write that
// failed because the session is closing changes nothing. s.mu is held.
func (s *session) loseUpstream(err error) {
	if s.upLost.Load() || s.closing() {
		return
	}
	s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegUpstream, Err: oneLine(fmt.Sprintf("proxy: writing to upstream: %v", err), 300)})
	s.setReason("upstream write failed")
	s.upLost.Store(true)
	s.drainAt = time.Now().Add(drainTimeout)
	s.upConn.SetReadDeadline(s.drainAt)
	s.cond.Broadcast()
}

// discardClient reads and drops the client's input once the upstream is lost, until the
// client's stream ends or the session closes.
func (s *session) discardClient(lr *lineReader) {
	for {
		line, _, err := lr.next()
		s.unsent.Add(int64(len(line)))
		if err != nil {
			s.clientEnded(err)
			return
		}
	}
}

// finishDelivered ends the session once everything the client is to get has been written to
// it: the upstream's stream is over and relayed, or popwire wrote its own last line (a dial
// failure's -ERR, the login timeout's). Like finish, but the client leg is closed gracefully
// (linger) unless the session was already closing.
func (s *session) finishDelivered(reason string) {
	s.legsMu.Lock()
	if s.ctx.Err() == nil {
		s.linger = true
	}
	s.legsMu.Unlock()
	s.finish(reason)
}

// linger half-closes the TCP connection c after the last byte written to it, then reads and
// discards what the peer still sends until closing loses nothing (settled), the peer closes
// in turn, lingerTimeout passes or stop is done. A close with unread input would reset the
// connection, and a reset can discard what the kernel has not yet delivered. Nothing is added
// to the stream: a TLS connection gets no close_notify, as when it is closed outright.
func linger(c net.Conn, stop context.Context) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	deadline := time.Now().Add(lingerTimeout)
	buf := make([]byte, 4<<10)
	for !settled(c) && time.Now().Before(deadline) && stop.Err() == nil {
		c.SetReadDeadline(time.Now().Add(lingerPoll))
		if _, err := c.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
	}
}

// stopClientReads makes pending and future reads of the client leg fail at once.
func (s *session) stopClientReads() { s.raw.SetReadDeadline(time.Now()) }

// unsentEvent logs the client input dropped after the upstream was lost, if any.
func (s *session) unsentEvent() {
	if n := s.unsent.Load(); n > 0 {
		s.rec.anomaly(logview.LegClient, fmt.Sprintf("discarded %d bytes the client sent after a write to the upstream failed", n))
	}
}
