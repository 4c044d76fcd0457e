package proxy

import (
	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/logview"
)

// stlsState follows a client-leg STLS from the command to the handshake.
type stlsState uint8

const (
	stlsNone     stlsState = iota
	stlsPending            // STLS framed; its answer waits for earlier replies
	stlsAccepted           // +OK sent: the client leg switches to TLS next
	stlsRefused            // -ERR sent
)

// The lines popwire answers itself. Codes per RFC 2449 §8 and RFC 3206.
var (
	replySTLS        = []byte("+OK Begin TLS negotiation now.\r\n")
	replyTLSActive   = []byte("-ERR TLS is already active.\r\n")
	replyNoSTLS      = []byte("-ERR [SYS/PERM] STLS is not available here.\r\n")
	replySTLSState   = []byte("-ERR STLS is only valid before authentication.\r\n")
	replyDenied      = []byte("-ERR [SYS/PERM] command denied by proxy policy\r\n")
	replyTLSRequired = []byte("-ERR [AUTH] TLS required: use STLS first.\r\n")
)

// localAnswer is a reply popwire writes itself. It waits in the command FIFO: it is written
// once every earlier command has its reply (RFC 2449 §6.6: replies keep command order).
type localAnswer struct {
	seq    int    // the command's position since the last framing restart
	verb   string // the command answered
	action string // logview policy action
	reply  []byte // the line, CRLF included; nil for an STLS decided at delivery time
	stls   bool   // an STLS: pumpUp waits for its answer
}

// command decides a framed client command and records it, as answered locally when the
// policy answers it; it reports whether it does. s.mu is held.
func (s *session) command(f *codec.Frame) bool {
	seq := s.cmds
	s.cmds++
	a, local := s.decide(f.Cmd.Verb, seq)
	leg := "client"
	if local {
		s.localq = append(s.localq, a)
		leg = legLocal
	}
	s.rec.frame(f, leg)
	return local
}

// decide returns the local answer for a command, or ok=false when it goes upstream.
func (s *session) decide(verb string, seq int) (a localAnswer, ok bool) {
	a = localAnswer{seq: seq, verb: verb}
	switch {
	case s.srv.deny[verb]:
		a.action, a.reply = "deny", replyDenied
	case verb == "STLS":
		// Accepted or refused, nothing the client sends after STLS before its answer is
		// read (RFC 2595 §4): pumpUp waits for the answer.
		a.action, a.stls = "stls", true
		s.stls = stlsPending
		switch {
		case s.clientTLS:
			a.reply = replyTLSActive
		case s.srv.clientTLS == nil:
			a.reply = replyNoSTLS
		}
	case s.srv.cfg.RequireTLS && !s.clientTLS && (verb == "USER" || verb == "PASS" || verb == "APOP" || verb == "AUTH"):
		a.action, a.reply = "require-tls", replyTLSRequired
	default:
		return a, false
	}
	return a, true
}

// controlled reports whether a command keyword may be answered locally, for a line too long
// to frame before it must be passed on.
func (s *session) controlled(verb string) bool {
	return s.srv.deny[verb] || verb == "STLS" ||
		(s.srv.cfg.RequireTLS && (verb == "USER" || verb == "PASS" || verb == "APOP" || verb == "AUTH"))
}

// deliverLocal writes every local answer whose turn has come, and shows each to the tracker
// as the reply the client received, so that later replies pair with the right commands. An
// answer never lands inside a server line: while one is partly received (an unsolicited
// line, say), answers wait for serverBytes to deliver them once it completes. s.mu is held.
func (s *session) deliverLocal() error {
	for len(s.localq) > 0 && s.greeted && s.done == s.localq[0].seq && !s.t.ServerMidLine() {
		a := s.localq[0]
		s.localq = append(s.localq[:0], s.localq[1:]...)
		accepted := a.stls && a.reply == nil && s.t.State() == codec.Authorization
		switch {
		case accepted:
			a.reply = replySTLS
		case a.reply == nil:
			a.reply = replySTLSState
		}
		if err := s.writeClient(a.reply); err != nil {
			return err
		}
		frames := s.t.Server(a.reply)
		for i := range frames {
			s.rec.frame(&frames[i], legLocal)
		}
		s.done++
		if !accepted {
			// An accepted STLS shows as a local reply already; a refusal is a policy decision.
			s.rec.event(logview.Event{Kind: logview.KindPolicy, Dir: logview.DirLocal, Action: a.action, Verb: a.verb, Text: string(a.reply[:len(a.reply)-2])})
		}
		if a.stls {
			if accepted {
				s.stls, s.paused = stlsAccepted, true
				s.cmds, s.done = 0, 0
			} else {
				s.stls = stlsRefused
			}
			s.cond.Broadcast()
		}
	}
	return nil
}

// writeClient writes p to the client leg, waiting while the leg switches to TLS. s.mu is held.
func (s *session) writeClient(p []byte) error {
	for s.paused && !s.ours() {
		s.cond.Wait()
	}
	if s.ours() {
		return errClosed
	}
	n, err := s.client.Write(p)
	s.bytesDown.Add(int64(n))
	return err
}
