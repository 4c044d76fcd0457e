package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
)

// pumpDown carries the upstream's bytes to the client: read a chunk, let the tracker observe
// it, forward the same bytes. Apart from the CAPA rewrite and local answers slotted between
// replies, nothing is copied and nothing is allocated per chunk. small is the session's small
// read buffer (smallServerBuf bytes). pumpDown runs on a goroutine of its own; when the
// upstream leg went quiet it goes on on a fresh one (fresh, see freshStack), and the last one
// closes done.
func (s *session) pumpDown(done chan<- struct{}, small []byte, fresh bool) {
	if s.downBurst(small, fresh) {
		go s.pumpDown(done, small, true)
		return
	}
	close(done)
}

// downBurst reads and forwards chunks. Fresh, it waits for the upstream's next byte with no
// deadline, then reads with the quiet deadline; it returns true when that deadline passed,
// false when the upstream's stream is over or the session must end (as after a panic).
func (s *session) downBurst(small []byte, fresh bool) (more bool) {
	defer s.recoverPanic("upstream pump")
	var q quietDeadline
	if fresh {
		s.clearDown(&q)
	}
	buf := small
	for {
		if s.upLost.Load() {
			q.armed = false // the drain deadline rules from here on
			s.upConn.SetReadDeadline(time.Now().Add(drainTimeout))
		} else if !fresh {
			s.armDown(&q)
		}
		n, err := s.upConn.Read(buf)
		if n > 0 {
			fresh = false
			s.touch()
			if werr := s.serverBytes(buf[:n]); werr != nil {
				putServerBuf(buf)
				if errors.Is(werr, errFramingLost) {
					s.finish("framing lost")
					return false
				}
				s.writeFailed(logview.LegClient, werr)
				return false
			}
			buf = nextServerBuf(buf, n, small)
			if s.heldEOFDue() {
				s.clientEnded(io.EOF)
			}
		}
		if err != nil {
			putServerBuf(buf)
			if q.armed && isTimeout(err) && !s.drainDue() {
				return true
			}
			s.upstreamEnded(err)
			return false
		}
	}
}

// drainDue reports whether the upstream is lost and the drain deadline loseUpstream set has
// passed: a read that ran into a deadline while the quiet one was armed ran into that one.
func (s *session) drainDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.upLost.Load() && !time.Now().Before(s.drainAt)
}

// bigServerBufs holds the big server read buffers (*[]byte of bigServerBuf bytes) no session
// is using: a session borrows one while a body flows, so an idle session holds none.
var bigServerBufs = sync.Pool{New: func() any {
	b := make([]byte, bigServerBuf)
	return &b
}}

// nextServerBuf returns the buffer for pumpDown's next read, after a read of n bytes into
// cur: a big one borrowed from bigServerBufs once a read fills the small one (a body is
// flowing), the small one again once a read returns less than it holds (the stream has gone
// quiet), when the big one goes back to the pool. Nothing uses cur's bytes any more:
// serverBytes keeps no reference to a chunk (see flushClient).
func nextServerBuf(cur []byte, n int, small []byte) []byte {
	switch {
	case len(cur) < bigServerBuf && n == len(cur):
		return *bigServerBufs.Get().(*[]byte)
	case len(cur) == bigServerBuf && n < len(small):
		putServerBuf(cur)
		return small
	}
	return cur
}

// putServerBuf gives buf back to bigServerBufs if it is a big one. A panic in serverBytes
// returns nothing: the session may still refer to the chunk.
func putServerBuf(buf []byte) {
	if len(buf) == bigServerBuf {
		bigServerBufs.Put(&buf)
	}
}

// serverBytes handles one chunk from the upstream. While a local answer waits for its turn,
// the chunk is cut right after the reply that brings that turn (codec.Tracker.ServerTurn), so
// that the answer is written after that reply; while one is due but a server line is half
// received, it is cut at the end of that line. What the chunk's pieces and the answers
// between them write to the client goes out together, at the end (flushClient).
func (s *session) serverBytes(p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.dropClientOut() // no reference to p outlives the call, even after a panic
	err := s.serverChunk(p)
	if err == nil || errors.Is(err, errFramingLost) {
		// The bytes framed before framing was lost were forwarded before too.
		if ferr := s.flushClient(); err == nil {
			err = ferr
		}
	}
	if err != nil {
		return err
	}
	s.noteLogin()
	s.wakeUp()
	return nil
}

// serverChunk feeds p to serverPiece in the pieces local answers need, delivering the answers
// and releasing held lines after each. s.mu is held.
func (s *session) serverChunk(p []byte) error {
	for len(p) > 0 {
		n, turn := len(p), 0
		if len(s.localq) > 0 {
			turn = s.localq[0].seq
			if s.t.Replied() >= turn {
				turn = 0
				if i := bytes.IndexByte(p, '\n'); i >= 0 {
					n = i + 1
				}
			}
		}
		n, err := s.serverPiece(p[:n], turn)
		if err != nil {
			return err
		}
		if err := s.deliverLocal(); err != nil {
			return err
		}
		// Held lines the piece or a local answer classified go upstream now; an upstream
		// that fails the write is drained, not a failed client write.
		if err := s.releaseHeld(); err != nil {
			s.loseUpstream(err)
		}
		p = p[n:]
	}
	return nil
}

// serverPiece feeds p to the tracker, up to the end of the reply that brings turn when turn
// is above 0 (see codec.Tracker.ServerTurn), and forwards what it fed, rewriting a CAPA reply;
// it returns how many bytes of p it fed. s.mu is held.
func (s *session) serverPiece(p []byte, turn int) (int, error) {
	for s.paused && !s.closing() {
		s.cond.Wait()
	}
	frames, n := s.t.ServerTurn(p, turn)
	p = p[:n]
	w := 0 // p[:w] is written or deliberately dropped
	for i := range frames {
		f := &frames[i]
		if f.Kind != codec.FrameCommand {
			s.rec.frame(f, logview.LegUpstream)
		}
		var err error
		switch f.Kind {
		case codec.FrameReply:
			if f.Multi && f.Cmd.Verb == "CAPA" {
				err = s.writeClient(p[w:f.End])
				w = f.End
				s.capa.begin(!s.clientTLS && s.srv.clientTLS != nil && f.State == codec.Authorization,
					s.srv.cfg.RequireTLS && !s.clientTLS)
				if s.srv.cfg.OAuth != nil {
					s.capa.bridge(f.State == codec.Authorization)
				}
			}
		case codec.FrameListLine:
			if s.capa.active {
				err = s.capa.line(s, f.Line, p[w:f.End])
				w = f.End
			}
		case codec.FrameBodyEnd:
			if s.capa.active {
				err = s.capa.end(s, p[w:f.End])
				w = f.End
			}
		case codec.FrameCommand, codec.FrameSASL:
			s.heldClassified(f)
		case codec.FrameStopped:
			err = s.serverFramingLost(f)
			if err == nil && s.capa.active {
				// The CAPA reply will never end: pass on what it held, unchanged.
				err = s.capa.flush(s, p[w:f.End])
				w = f.End
				s.capa.active, s.capa.pend = false, s.capa.pend[:0]
			}
		}
		if err != nil {
			return n, err
		}
	}
	if s.capa.active {
		return n, s.capa.hold(s, p[w:])
	}
	if w < len(p) {
		return n, s.writeClient(p[w:])
	}
	return n, nil
}

// heldEOFDue reports whether the client's EOF waited for held lines that are all gone now.
func (s *session) heldEOFDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eofHeld && len(s.held) == 0
}

// heldClassified handles a frame that classifies the oldest held client line, as the answer
// to the AUTH it followed arrives: a command is decided now, a SASL answer queued for
// forwarding (releaseHeld). The lines held after an STLS are dropped: the client sent them
// after it before its answer, and the tracker does not frame them (RFC 2595 §4). s.mu is held.
func (s *session) heldClassified(f *codec.Frame) {
	line := s.popHeld()
	if f.Kind == codec.FrameCommand {
		if a, local := s.command(f); local {
			s.localq = append(s.localq, a)
			if a.stls {
				s.held = nil
			}
			return
		}
	}
	if line != nil {
		s.fwd = append(s.fwd, line)
	}
}

// popHeld returns the oldest held client line, or nil.
func (s *session) popHeld() []byte {
	if len(s.held) == 0 {
		return nil
	}
	line := s.held[0]
	s.held = append(s.held[:0], s.held[1:]...)
	return line
}

// releaseHeld forwards the held lines the tracker has classified, in order; once the upstream
// is lost they are dropped. s.mu is held.
func (s *session) releaseHeld() error {
	if len(s.fwd) == 0 {
		return nil
	}
	if s.upLost.Load() {
		s.dropFwd(0)
		return nil
	}
	s.upMu.Lock()
	defer s.upMu.Unlock()
	for i, line := range s.fwd {
		if err := s.writeUpstream(line); err != nil {
			s.dropFwd(i + 1)
			return err
		}
		s.fwd[i] = nil
	}
	s.fwd = s.fwd[:0]
	return nil
}

// dropFwd empties s.fwd, counting the lines from the i-th on as unsent. s.mu is held.
func (s *session) dropFwd(i int) {
	for _, line := range s.fwd[i:] {
		s.unsent.Add(int64(len(line)))
	}
	clear(s.fwd)
	s.fwd = s.fwd[:0]
}

// recordEOF tells the tracker that leg's stream ended and logs what that leaves unfinished.
func (s *session) recordEOF(dir codec.Direction, leg logview.Leg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	frames := s.t.EOF(dir)
	for i := range frames {
		s.rec.frame(&frames[i], leg)
	}
}

// upstreamEnded handles the end of the upstream's stream, every byte of which has been
// written to the client: the client leg is closed gracefully without any byte invented for it
// (no "." for a body cut short, no +OK: RFC 1939 §7 obligations).
func (s *session) upstreamEnded(err error) {
	s.recordEOF(codec.FromServer, logview.LegUpstream)
	if s.closing() {
		return
	}
	if errors.Is(err, io.EOF) {
		s.finishDelivered("upstream closed")
		return
	}
	msg := "proxy: upstream: " + err.Error()
	if s.upLost.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		msg = fmt.Sprintf("proxy: upstream neither closed nor sent anything for %s after a write to it failed", drainTimeout)
	}
	s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegUpstream, Err: oneLine(msg, 300)})
	s.finishDelivered("upstream error")
}
