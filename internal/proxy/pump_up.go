package proxy

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
)

// errClosed is returned by writes attempted after the session started closing.
var errClosed = errors.New("proxy: session closed")

// tlsRecordHandshake is the first byte of a TLS handshake record (RFC 8446 §5.1).
const tlsRecordHandshake = 0x16

// pumpUp carries the client's lines, read with lr, to the upstream, one line at a time: the
// tracker frames each, the policy answers some locally, the rest is forwarded byte for byte.
// first says the next line is the client's first (the OAuth bridge read it otherwise). fresh
// says pumpUp runs on a fresh goroutine because the leg went quiet: it waits for the client's
// next byte with no deadline, then reads with the quiet deadline (see freshStack). It returns
// true when that deadline passed (upPump goes on on a fresh goroutine), false when the session
// is to end.
func (s *session) pumpUp(lr *lineReader, first, fresh bool) bool {
	var q quietDeadline
	if fresh {
		s.clearUp(&q, lr)
	}
	for {
		if !fresh {
			s.armUp(&q, lr)
		}
		line, complete, err := lr.next()
		if len(line) > 0 {
			fresh = false
			if complete {
				s.touch() // a client byte that does not complete a line is no activity
			}
			if first && s.spokeTLS(line) {
				return false
			}
			first = false
			if !s.clientLine(line, complete) {
				if s.upLost.Load() {
					s.clearUp(&q, lr)
					s.discardClient(lr)
				}
				return false
			}
			if s.stlsWaiting() {
				s.clearUp(&q, lr) // the handshake has deadlines of its own
				if !s.upgradeClient(lr) {
					return false
				}
			}
		}
		if err != nil {
			if q.armed && isTimeout(err) {
				return true
			}
			s.clientEnded(err)
			return false
		}
	}
}

// spokeTLS ends the session when the client's first line on the plaintext leg is the start
// of a TLS handshake, and reports whether it did.
func (s *session) spokeTLS(line []byte) bool {
	if s.clientTLS || line[0] != tlsRecordHandshake {
		return false
	}
	s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegClient, Client: s.raw.RemoteAddr().String(),
		Listener: s.listener, Err: "proxy: client started TLS on the plaintext listener (use the TLS listener, or STLS)"})
	s.finish("client spoke TLS on the plaintext listener")
	return true
}

// clientLine frames, decides and forwards one client line (or a piece of an over-long one).
// It reports false when the session must end, or when the upstream is lost (loseUpstream).
func (s *session) clientLine(line []byte, complete bool) bool {
	s.lockUp()
	cont := s.longLine // earlier pieces of this line went upstream
	if !cont {
		s.waitRoom()
	}
	if s.upLost.Load() {
		s.unlockUp()
		s.unsent.Add(int64(len(line)))
		return false
	}
	if s.stlsTurn {
		// An STLS met among held lines is waiting for its answer: like every byte sent
		// after STLS before its answer, this line is never framed nor forwarded.
		n := len(s.heldTail) + len(line)
		s.heldTail = nil
		s.unlockUp()
		s.rec.anomaly(logview.LegClient, fmt.Sprintf("discarded %d bytes the client sent after STLS before its answer", n))
		return true
	}
	s.longLine = !complete
	fwd := true
	frames := s.t.Client(line)
	if s.heldTail != nil {
		// The line began behind held lines: it goes on whole, or is held whole again.
		line = append(s.heldTail, line...)
		s.heldTail = nil
	}
	for i := range frames {
		f := &frames[i]
		if f.Kind == codec.FrameCommand {
			if a, local := s.command(f); local {
				if cont {
					return s.longLineFailed(cmp.Or(f.Note, "a command popwire answers itself"))
				}
				s.localq = append(s.localq, a)
				fwd = false
			}
			continue
		}
		s.rec.frame(f, logview.LegClient)
		switch f.Kind {
		case codec.FrameStopped:
			return s.clientFramingLost(f.Note, line)
		case codec.FrameHeld:
			s.held = append(s.held, bytes.Clone(line))
			fwd = false
		}
	}
	if !complete {
		if why := s.longLineRefused(); why != "" {
			return s.longLineFailed(why)
		}
		if len(s.held) > 0 {
			// Sent now, these bytes would overtake the held lines: a server would read them as
			// the answer to a challenge, and the held line as a command, or the reverse.
			if len(line) >= maxClientLine {
				return s.longLineFailed("it would have to wait behind lines held for the answer to AUTH")
			}
			s.heldTail = bytes.Clone(line)
			s.longLine, fwd = false, false
		}
	}
	if err := cmp.Or(s.deliverLocal(), s.sendClient()); err != nil {
		s.unlockUp()
		s.writeFailed(logview.LegClient, err)
		return false
	}
	if err := s.releaseHeld(); err != nil {
		s.unlockUp()
		s.writeFailed(logview.LegUpstream, err)
		return false
	}
	ended := s.closing() // framing was lost on the server side: nothing checks this line
	if !fwd || ended {
		s.unlockUp()
		return !ended
	}
	s.upMu.Lock()
	s.unlockUp()
	err := s.writeUpstream(line)
	s.upMu.Unlock()
	if err != nil {
		s.writeFailed(logview.LegUpstream, err)
		return false
	}
	return true
}

// longLineFailed ends the session on a client line too long to hold that popwire must not
// pass on, or not pass on further: it cannot answer the line before it has all of it. s.mu is
// held on entry and released on return, which is false.
func (s *session) longLineFailed(why string) bool {
	s.unlockUp()
	s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegClient,
		Err: fmt.Sprintf("proxy: client line over %d bytes that popwire cannot pass on (%s): session closed", maxClientLine, why)})
	s.finish("client line too long")
	return false
}

// writeUpstream writes p to the upstream leg; what a failed write leaves out counts as
// unsent. The write has the idle timeout as its deadline (upDeadline). s.upMu is held.
func (s *session) writeUpstream(p []byte) error {
	s.upDeadline()
	n, err := s.upConn.Write(p)
	s.bytesUp.Add(int64(n))
	s.srv.stats.BytesUp(n)
	if err != nil && !s.closing() {
		s.unsent.Add(int64(len(p) - n))
	}
	return err
}

// upDeadline sets the deadline of the next write to the upstream leg: the idle timeout from
// now. The idle timer alone cannot end a write the server never accepts, since the server's
// own bytes keep the session active; the client leg needs no such deadline, since a write
// blocked there stops pumpDown reading, so the session turns idle (see session). s.upMu is
// held.
func (s *session) upDeadline() {
	s.upConn.SetWriteDeadline(time.Now().Add(orDuration(s.srv.cfg.IdleTimeout, DefaultIdleTimeout)))
}

// writeFailed handles a failed write to leg, logging it unless we caused it. The session ends
// when the client cannot be written to; an upstream is drained first (loseUpstream).
func (s *session) writeFailed(leg logview.Leg, err error) {
	if leg == logview.LegUpstream {
		s.mu.Lock()
		s.loseUpstream(err)
		s.mu.Unlock()
		return
	}
	if !s.closing() {
		s.rec.event(logview.Event{Kind: logview.KindError, Leg: leg, Err: oneLine(fmt.Sprintf("proxy: writing to %s: %v", leg, err), 300)})
	}
	s.finish(string(leg) + " write failed")
}

// stlsWaiting reports whether an STLS awaits or just got its answer (popwire answers every
// STLS itself, accepting or refusing it).
func (s *session) stlsWaiting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stlsTurn
}

// upgradeClient completes a client-leg STLS, accepted or refused (RFC 2595 §4): the bytes the
// client sent after STLS are discarded unread (STARTTLS command injection, CVE-2011-0411),
// reading waits until the answer has been delivered, and after +OK the handshake runs on the
// raw connection. It reports false when the session must end.
func (s *session) upgradeClient(lr *lineReader) bool {
	if n := lr.discard(); n > 0 {
		s.rec.anomaly(logview.LegClient, fmt.Sprintf("discarded %d bytes the client sent after STLS before its answer", n))
	}
	s.mu.Lock()
	for s.t.STLS() == codec.STLSSent && !s.closing() {
		s.cond.Wait()
	}
	accepted := s.t.STLS() == codec.STLSStarted
	s.stlsTurn = false
	s.mu.Unlock()
	switch {
	case s.closing():
		return false
	case !accepted:
		return true
	}
	if !onFreshStack(func() bool { return s.handshakeClient("stls") }) {
		return false
	}
	s.mu.Lock()
	lr.r = s.client
	s.mu.Unlock()
	return true
}

// clientEnded handles the end of the client's stream: a clean EOF is passed on as a
// half-close (never as QUIT: RFC 1939 §6, only QUIT commits deletions), once the lines held
// while AUTH awaits the server are forwarded or answered; an error ends the session.
func (s *session) clientEnded(err error) {
	if errors.Is(err, io.EOF) && s.holdEOF() {
		return // pumpDown passes it on (see eofHeld)
	}
	s.recordEOF(codec.FromClient, logview.LegClient)
	if s.closing() {
		return
	}
	if !errors.Is(err, io.EOF) {
		s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegClient, Err: oneLine("proxy: client: "+err.Error(), 300)})
		s.finish("client error")
		return
	}
	s.clientEOF = true
	s.setReason("client closed")
	s.mu.Lock()
	s.upMu.Lock()
	err = s.sendHeldTail()
	s.mu.Unlock()
	s.upDeadline() // for the close_notify of a TLS leg
	closeWrite(s.upConn)
	s.upMu.Unlock()
	if err != nil {
		s.writeFailed(logview.LegUpstream, err)
	}
}

// sendHeldTail forwards heldTail once the client's stream has ended and no line is held: the
// line it begins will never end, and the server reads it as the client sent it. Bytes the
// client sent after an STLS before its answer are discarded instead (RFC 2595 §4). s.mu and
// s.upMu are held.
func (s *session) sendHeldTail() error {
	tail := s.heldTail
	s.heldTail = nil
	switch {
	case len(tail) == 0:
		return nil
	case s.stlsTurn:
		s.rec.anomaly(logview.LegClient, fmt.Sprintf("discarded %d bytes the client sent after STLS before its answer", len(tail)))
		return nil
	case s.upLost.Load():
		s.unsent.Add(int64(len(tail)))
		return nil
	}
	return s.writeUpstream(tail)
}

// holdEOF reports whether the client's EOF must wait for held lines, and marks it so.
func (s *session) holdEOF() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eofHeld = len(s.held) > 0
	return s.eofHeld
}

// closeWrite half-closes c: close_notify on TLS, then FIN on TCP.
func closeWrite(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		closeWrite(tc.NetConn())
	}
}
