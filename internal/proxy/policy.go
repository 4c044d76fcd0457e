package proxy

import (
	"slices"
	"strings"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
)

// The lines popwire answers itself. Codes per RFC 2449 §8 and RFC 3206.
var (
	replySTLS        = []byte("+OK Begin TLS negotiation now.\r\n")
	replyTLSActive   = []byte("-ERR TLS is already active.\r\n")
	replyNoSTLS      = []byte("-ERR [SYS/PERM] STLS is not available here.\r\n")
	replySTLSState   = []byte("-ERR STLS is only valid before authentication.\r\n")
	replyDenied      = []byte("-ERR [SYS/PERM] command denied by proxy policy\r\n")
	replyTLSRequired = []byte("-ERR [AUTH] TLS required: use STLS first.\r\n")
	replyBridged     = []byte("-ERR [AUTH] popwire: this line is not passed on: the OAuth bridge logs in upstream itself.\r\n")
)

// localAnswer is a reply popwire writes itself. It waits in the command FIFO: it is written
// once every earlier command has its reply (RFC 2449 §6.6: replies keep command order).
type localAnswer struct {
	seq    int    // the command's codec.Frame.Seq: its turn comes when the tracker's Replied reaches it
	verb   string // the command answered
	action string // logview policy action
	reply  []byte // the line, CRLF included; nil for an STLS decided at delivery time
	stls   bool   // an STLS: pumpUp waits for its answer
}

// command decides a framed client command and records it, as answered locally when the
// policy answers it: it returns the local answer and whether there is one, for the caller
// to queue. s.mu is held.
func (s *session) command(f *codec.Frame) (localAnswer, bool) {
	a, local := s.decide(f)
	if !local && s.bridged(f.Keyword) {
		a.action, a.reply, local = "oauth", replyBridged, true
	}
	leg := logview.LegClient
	if local {
		leg = logview.LegLocal
	}
	s.rec.frame(f, leg)
	return a, local
}

// unparsedReply is the local answer to a client line popwire cannot classify with certainty
// while a policy depends on it; why never quotes the line (it may be a secret).
func unparsedReply(why string) []byte {
	return []byte("-ERR [SYS/PERM] popwire cannot parse this command line (" + why + ")\r\n")
}

// whyPrefix says why a keyword that begins with a controlled one is refused.
const whyPrefix = "keyword begins with one popwire answers itself"

// policyActive reports whether a policy depends on what each client line is: a denied
// command, RequireTLS, STLS accepted with the client-leg certificate, or the OAuth bridge. Without one (no
// certificate, no --deny, no --require-tls) popwire still refuses every STLS itself, but a
// line it cannot classify is passed on: at worst a server running an odd " STLS" starts TLS
// with the client end to end, and popwire, having no policy to keep, passes it through.
func (s *session) policyActive() bool {
	return len(s.srv.deny) > 0 || s.srv.cfg.RequireTLS || s.srv.clientTLS != nil || s.srv.cfg.OAuth != nil
}

// controls reports whether popwire answers the command keyword verb itself.
func (s *session) controls(verb string) bool {
	return s.srv.deny[verb] || verb == "STLS" || s.requiresTLS() && slices.Contains(credentials, verb)
}

// credentials are the keywords that send a credential (RFC 1939 §7, RFC 5034).
var credentials = []string{"USER", "PASS", "APOP", "AUTH"}

// requiresTLS reports whether RequireTLS refuses credentials on the client leg as it is now.
func (s *session) requiresTLS() bool { return s.srv.cfg.RequireTLS && !s.clientTLS }

// bridged reports whether the pumps answer the command keyword verb themselves because the
// OAuth bridge answered the login: no credential of the client's goes upstream after it.
// The bridge's own lines are decided without it (bridgeLine).
func (s *session) bridged(verb string) bool {
	return s.srv.cfg.OAuth != nil && slices.Contains(credentials, verb)
}

// unclear returns why, under a policy, a client line whose keyword the codec's tokenizer read
// as verb cannot be classified with certainty, or "". verb is "" for a line that is no
// command line, why then says what the tokenizer found. A keyword longer than one popwire
// answers itself and beginning with it is unclear too: a server that matches a keyword's
// first letters, or reads a fixed number of them, would run the controlled command.
func (s *session) unclear(verb, why string) string {
	switch {
	case !s.policyActive():
		return ""
	case verb == "":
		return why
	}
	extends := func(v string) bool { return len(verb) > len(v) && strings.HasPrefix(verb, v) }
	if extends("STLS") || s.requiresTLS() && slices.ContainsFunc(credentials, extends) {
		return whyPrefix
	}
	for v := range s.srv.deny {
		if extends(v) {
			return whyPrefix
		}
	}
	return ""
}

// decide returns the local answer for the client command framed as f, or ok=false when it
// goes upstream.
func (s *session) decide(f *codec.Frame) (a localAnswer, ok bool) {
	verb := f.Keyword
	a = localAnswer{seq: f.Seq, verb: verb}
	if why := s.unclear(verb, f.Note); why != "" {
		a.verb, a.action, a.reply = "", "unparsed", unparsedReply(why)
		return a, true
	}
	switch {
	case s.srv.deny[verb]:
		a.action, a.reply = "deny", replyDenied
	case verb == "STLS":
		// Accepted or refused, nothing the client sends after STLS before its answer is
		// read (RFC 2595 §4): pumpUp waits for the answer.
		a.action, a.stls = "stls", true
		s.stlsTurn = true
		switch {
		case s.clientTLS:
			a.reply = replyTLSActive
		case s.srv.clientTLS == nil:
			a.reply = replyNoSTLS
		}
	case s.controls(verb):
		a.action, a.reply = "require-tls", replyTLSRequired
	default:
		return a, false
	}
	return a, true
}

// longLineRefused returns why, under a policy, a piece of a client line too long to hold
// (over maxClientLine) must not be passed on, or "". Pieces go on before the line is framed,
// so the line so far must read as a command popwire lets through, with no NUL and no bare
// CR, unless it answers a SASL challenge (the tracker stops framing on such a byte there).
// s.mu is held.
func (s *session) longLineRefused() string {
	if !s.policyActive() {
		return ""
	}
	verb, why, sasl := s.t.PartialLine()
	switch {
	case sasl:
		return ""
	case verb != "" && (s.controls(verb) || s.bridged(verb)):
		return "a command popwire answers itself"
	}
	return s.unclear(verb, why)
}

// deliverLocal writes every local answer whose turn has come, and shows each to the tracker
// as the reply the client received, so that later replies pair with the right commands; a
// refused AUTH classifies the lines held after it (the caller forwards them, releaseHeld), and
// errFramingLost says one could not be framed while a policy needs framing. An
// answer never lands inside a server line: while one is partly received (an unsolicited
// line, say), answers wait for serverBytes to deliver them once it completes. s.mu is held.
func (s *session) deliverLocal() error {
	for len(s.localq) > 0 && s.t.Replied() == s.localq[0].seq && !s.t.ServerMidLine() {
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
			f := &frames[i]
			if f.Kind != codec.FrameCommand { // a held command is recorded as it is decided
				s.rec.frame(f, logview.LegLocal)
			}
			switch f.Kind {
			case codec.FrameCommand, codec.FrameSASL:
				s.heldClassified(f)
			case codec.FrameStopped:
				if err := s.serverFramingLost(f); err != nil {
					return err
				}
			}
		}
		if !accepted {
			// An accepted STLS shows as a local reply already; a refusal is a policy decision.
			s.srv.stats.Refused(refusalKinds[a.action])
			s.rec.event(logview.Event{Kind: logview.KindPolicy, Dir: logview.DirLocal, Action: a.action, Verb: a.verb, Text: string(a.reply[:len(a.reply)-2])})
		}
		if a.stls {
			// The answer reaches the client before the handshake or its next line is read.
			if err := s.sendClient(); err != nil {
				return err
			}
			if accepted {
				s.paused = true // until the client leg's handshake is done
			}
			s.cond.Broadcast() // pumpUp waits for this answer (upgradeClient)
		}
	}
	return nil
}

// Client-leg write coalescing. What one critical section writes to the client (a reply and
// the local answers after it, the lines of a CAPA reply being rewritten) goes out in one
// write when it can: writes of up to coalesceSmall bytes that follow others are gathered in
// session.out, up to coalesceMax; a single write, or a larger one, is borrowed, not copied.
const (
	coalesceSmall = 4 << 10
	coalesceMax   = 16 << 10
	// keepOut is the largest session.out kept between critical sections; a bigger one is
	// released, so that an idle session holds none.
	keepOut = 1 << 10
)

// writeClient queues p for the client leg, waiting while the leg switches to TLS; flushClient
// writes it, before s.mu is released. p is borrowed until then (s.outRef) unless it follows
// other bytes and is small, when it is copied: the caller must not change it before the
// flush (copyClient copies). s.mu is held.
func (s *session) writeClient(p []byte) error {
	if err := s.clientWritable(); err != nil {
		return err
	}
	switch {
	case len(p) == 0:
		return nil
	case len(s.out) == 0 && len(s.outRef) == 0:
		s.outRef = p
		return nil
	case len(p) > coalesceSmall:
		if err := s.flushClient(); err != nil {
			return err
		}
		s.outRef = p
		return nil
	}
	return s.queueCopy(p)
}

// copyClient queues a copy of p for the client leg, waiting while the leg switches to TLS.
// s.mu is held.
func (s *session) copyClient(p []byte) error {
	if err := s.clientWritable(); err != nil {
		return err
	}
	return s.queueCopy(p)
}

// clientWritable waits while the client leg switches to TLS (paused) and returns errClosed
// once the session is closing. s.mu is held.
func (s *session) clientWritable() error {
	for s.paused && !s.closing() {
		s.cond.Wait()
	}
	if s.closing() {
		return errClosed
	}
	return nil
}

// queueCopy appends a copy of p to s.out, the borrowed s.outRef first, and writes what is
// queued once it reaches coalesceMax. s.mu is held.
func (s *session) queueCopy(p []byte) error {
	if len(s.outRef) > 0 {
		s.out = append(s.out, s.outRef...)
		s.outRef = nil
	}
	s.out = append(s.out, p...)
	if len(s.out) >= coalesceMax {
		return s.flushClient()
	}
	return nil
}

// flushClient writes what writeClient and copyClient queued, in one write, and counts it in
// bytesDown. Only one of s.out and s.outRef is ever set. s.mu is held.
func (s *session) flushClient() error {
	p := s.outRef
	if len(s.out) > 0 {
		p = s.out
	}
	s.outRef = nil
	s.out = s.out[:0]
	if len(p) == 0 {
		return nil
	}
	if s.closing() {
		return errClosed
	}
	n, err := s.client.Write(p)
	s.bytesDown.Add(int64(n))
	s.srv.stats.BytesDown(n)
	return err
}

// sendClient writes what is queued for the client leg and resets the queue, also when the
// write fails. s.mu is held.
func (s *session) sendClient() error {
	err := s.flushClient()
	s.dropClientOut()
	return err
}

// dropClientOut forgets what is queued for the client leg (after a failed write) and
// releases a big s.out. s.mu is held.
func (s *session) dropClientOut() {
	s.outRef = nil
	if cap(s.out) > keepOut {
		s.out = nil
	}
	s.out = s.out[:0]
}
