package proxy

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
)

// Client pipelining limits. pumpUp stops reading client lines while pendingHigh commands
// await replies, or while heldHigh lines are held during AUTH, until the server catches up:
// an honest client then never reaches the codec's limits (codec.MaxPending, codec.MaxHeld),
// where framing would stop. The server waits for nothing from us while replies are pending,
// so the pause always ends.
const (
	pendingHigh = codec.MaxPending / 2
	heldHigh    = codec.MaxHeld - 4
)

// replyCannotFrame tells the client why the session ends when its input cannot be framed
// (RFC 3206 SYS/PERM: retrying will not help).
var replyCannotFrame = []byte("-ERR [SYS/PERM] popwire cannot frame this input; closing\r\n")

// errFramingLost ends a session whose server side could not be framed while a policy needs
// framing; the event is already logged.
var errFramingLost = errors.New("proxy: framing lost")

// waitRoom waits, releasing s.mu, while the client is as far ahead of the server as
// pendingHigh and heldHigh allow, and while an unsolicited server line is half received (a
// command framed now would be paired with it, and its local answer would wait inside it).
// pumpDown wakes it as server bytes arrive; closing and losing the upstream wake it too.
// s.mu is held.
func (s *session) waitRoom() {
	for !s.passThrough && !s.closing() && !s.upLost.Load() && (s.t.Pending() >= pendingHigh || len(s.held) >= heldHigh ||
		s.t.Pending() == 0 && s.t.ServerMidLine()) {
		s.upWait = true
		s.cond.Wait()
	}
	s.upWait = false
}

// wakeUp wakes pumpUp if it waits for room. s.mu is held.
func (s *session) wakeUp() {
	if s.upWait {
		s.cond.Broadcast()
	}
}

// needsFraming reports whether a policy depends on every client command being framed (see
// policyActive), or a local answer still waits for its turn. Without either, lost framing
// only ends the logging. s.mu is held.
func (s *session) needsFraming() bool {
	return s.policyActive() || len(s.localq) > 0
}

// clientFramingLost handles a codec.FrameStopped met on a client line. When a policy needs
// framing the session ends (fail closed): the line and the held lines are not forwarded, and
// the client is told why when no reply is outstanding. Otherwise the session passes the rest
// through unframed, the held lines first, in order. It reports false when the session must
// end. s.mu is held on entry (taken with lockUp) and released on return.
func (s *session) clientFramingLost(note string, line []byte) bool {
	if s.needsFraming() {
		held := len(s.held)
		s.held = nil
		var err error
		told := false
		if s.t.Pending() == 0 { // the greeting and every reply are in
			err = cmp.Or(s.writeClient(replyCannotFrame), s.sendClient())
			told = err == nil
		}
		s.unlockUp()
		s.framingLostEvent(logview.LegClient, note, held)
		if err != nil && !s.closing() {
			s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegClient, Err: oneLine("proxy: writing to client: "+err.Error(), 300)})
		}
		if told {
			s.finishDelivered("framing lost")
		} else {
			s.finish("framing lost")
		}
		return false
	}
	s.startPassThrough()
	s.fwd = append(s.fwd, line)
	err := s.releaseHeld()
	s.unlockUp()
	if err != nil {
		s.writeFailed(logview.LegUpstream, err)
		return false
	}
	return true
}

// serverFramingLost handles a codec.FrameStopped met while feeding server bytes or a local
// answer (f.Dir says whose input it is: a held client line is classified then):
// errFramingLost when a policy needs framing, the session ending before s.mu is released, so
// that pumpUp forwards no client line the tracker no longer checks; else the session passes
// the rest through unframed and the held client lines are released, in order. s.mu is held.
func (s *session) serverFramingLost(f *codec.Frame) error {
	if s.needsFraming() {
		held := len(s.held)
		s.held = nil
		leg := logview.LegUpstream
		if f.Dir == codec.FromClient {
			leg = logview.LegClient
		}
		s.framingLostEvent(leg, f.Note, held)
		s.finish("framing lost")
		return errFramingLost
	}
	s.startPassThrough()
	return nil
}

// startPassThrough switches the session to forwarding without framing; the lines held for
// the tracker queue up for forwarding, oldest first. s.mu is held.
func (s *session) startPassThrough() {
	s.passThrough = true
	s.fwd = append(s.fwd, s.held...)
	s.held = nil
	s.cond.Broadcast()
}

// framingLostEvent logs that the session ends because leg's input could not be framed.
func (s *session) framingLostEvent(leg logview.Leg, note string, held int) {
	msg := fmt.Sprintf("proxy: %s input cannot be framed (%s) and a policy (deny, require-tls, STLS) needs framing: session closed", leg, note)
	if held > 0 {
		msg += fmt.Sprintf("; %d held client line(s) not forwarded", held)
	}
	s.rec.event(logview.Event{Kind: logview.KindError, Leg: leg, Err: msg})
}
