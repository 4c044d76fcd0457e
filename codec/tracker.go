package codec

import (
	"strconv"
	"strings"
)

// DefaultMaxLine is the line cap used when Tracker.MaxLine is 0.
const DefaultMaxLine = 16 << 10

// minMaxLine is the smallest line cap a tracker uses, whatever MaxLine says.
const minMaxLine = 32

// MaxHeld caps the client lines held while AUTH waits for the server (FrameHeld); one more
// stops framing. A proxy that reads client lines one at a time can stay under it by pausing.
const MaxHeld = 16

// maxFramesKept is the frame slice capacity a tracker always keeps. A larger one (grown by a
// chunk with many lines) is kept while calls keep filling more than a quarter of it, so a busy
// stream allocates nothing per chunk, and is dropped by the first call after a quiet one.
const maxFramesKept = 16

// STLSState says where the last STLS command of a session stands (RFC 2595 §4). The zero
// value is STLSNone.
type STLSState uint8

// The stages of an STLS command.
const (
	STLSNone    STLSState = iota // no STLS outstanding
	STLSSent                     // STLS sent, its reply not yet seen: further client bytes are never framed
	STLSStarted                  // +OK to STLS seen and the client has not spoken since: the next bytes are TLS
)

// String returns "none", "sent" or "started", or "" for an unknown value.
func (s STLSState) String() string {
	switch s {
	case STLSNone:
		return "none"
	case STLSSent:
		return "sent"
	case STLSStarted:
		return "started"
	}
	return ""
}

// Tracker follows one POP3 session in both directions. The zero value is ready to use and
// expects a greeting first. Feed it bytes in wire order, in chunks of any size: the frames it
// returns do not depend on how the bytes are split, except for End and for how RETR/TOP
// content is cut into FrameBodyData pieces. It never buffers a body and copies at most MaxLine
// (+1) bytes of the line in progress per direction.
//
// Ordering: frames come in wire order, and within one call End never decreases. A client line
// sent while AUTH is outstanding and no challenge is pending (reference §3.2 rule 3) comes back
// as FrameHeld, with an Auth that treats it all as secret. Server resolves it as soon as the
// next server line answering that AUTH completes (lines answering commands pipelined before
// the AUTH come first):
//   - a continuation ("+ …" or a bare "+", RFC 5034 §4): the oldest held line as FrameSASL,
//     with End where that server line starts in the chunk (0 if it started in an earlier
//     chunk), then the FrameChallenge; later held lines stay held;
//   - a final reply, "+OK" or "-ERR": the FrameReply first, then every held line classified
//     afresh as if the client sent it now (usually FrameCommand, queued in the FIFO after the
//     AUTH), with End at the end of the reply line. A held line that opens another AUTH makes
//     the lines after it held again (a second FrameHeld for the same line).
//
// A "+OK" always ends the exchange, also when the mechanism could not have finished (Exchange
// 2003 answered AUTH NTLM so, meaning a continuation): the client lines after it are commands,
// as the RFC says and as a server that means it runs them. A FrameAnomaly says so, and from
// then on unknown client lines are treated as secret as in AUTHORIZATION, since they may be
// SASL data.
//
// STLS: after a client STLS, any further client bytes before its reply are reported once as a
// FrameAnomaly and never framed, the lines held after a held STLS included. The server's +OK to STLS gives FrameTLS; framing then
// restarts, and server bytes that arrive before the client's next line (a response injection)
// are reported once as a FrameAnomaly and never framed.
type Tracker struct {
	MaxLine  int  // cap on the logged copy of a line; 0 means DefaultMaxLine, values below 32 mean 32. Never limits what is framed.
	BodyData bool // emit FrameBodyData for RETR/TOP content

	started  bool
	state    State
	frames   []Frame
	cli, srv lineBuf
	fifo     fifo
	queued   int // commands queued so far, the greeting included: the Seq of the next one
	replied  int // commands whose reply is complete, the greeting included (see Replied)
	sasl     saslSession
	held     []heldLine
	body     bodyState
	user     string // name of the last USER command
	crlf     bool   // a server status line ended in CRLF: only ".␍␊" ends a body
	stls     STLSState
	tlsNoted bool // the bytes injected in this STLS stage (client bytes once sent, server bytes once started) were reported
	quit     bool // QUIT sent
	layerCli bool // AUTH succeeded with a mechanism that may add a security layer: check the next client line
	layerSrv bool // … and the next server line
	saslCut  bool // an AUTH ended with +OK before its mechanism could: unknown client lines stay secret
	stopped  bool
	scan     scanPath    // how scanData skips plain lines: the zero value is the fastest way
	eof      [3]bool     // per Direction
	conf     conformance // what the conformance checks keep (see Rule)
}

// heldLine is a copy of a client line whose classification waits for the server.
type heldLine struct {
	b         []byte
	full      int
	truncated bool
	cr        bool
}

// Client feeds bytes the client sent and returns the frames they complete.
func (t *Tracker) Client(p []byte) []Frame {
	t.begin()
	if t.stopped || t.eof[FromClient] {
		return t.frames
	}
	for i := 0; i < len(p) && !t.stopped; {
		if t.stls == STLSSent {
			if !t.tlsNoted {
				t.finding(RuleSTLSPipelined, FromClient, len(p), noteSTLSInjection, line{})
				t.tlsNoted = true
			}
			t.cli.reset()
			break
		}
		l, end, done := t.cli.next(p, i, t.limit())
		if !done {
			switch {
			case !t.sasl.open && !t.keywordPrefixOK(t.cli.prefix(t.limit())):
				t.stop(FromClient, len(p), t.junkNote(t.layerCli, "client"))
			case t.sasl.open && t.cli.bad():
				t.stop(FromClient, len(p), noteSASLBadByte)
			}
			break
		}
		i = end
		t.clientLine(l, end)
		t.checkClientLine(l, end)
	}
	return t.frames
}

// Server feeds bytes the server sent and returns the frames they complete.
func (t *Tracker) Server(p []byte) []Frame {
	t.server(p, 0)
	return t.frames
}

// ServerTurn feeds bytes the server sent, as Server does, but stops right after the reply
// that makes Replied reach turn, and returns the frames and how many bytes of p it consumed
// (len(p) when that reply does not complete within p). When Replied is at turn already it
// consumes all of p, as Server does. A proxy that answers the command with Seq turn itself
// feeds a chunk so, writes its answer after the n bytes, and feeds the rest: the chunk is cut
// at that one place, not line by line.
func (t *Tracker) ServerTurn(p []byte, turn int) ([]Frame, int) {
	n := t.server(p, turn)
	return t.frames, n
}

// server feeds p, stopping once Replied reaches turn if it is below turn at the start, and
// returns the bytes consumed.
func (t *Tracker) server(p []byte, turn int) int {
	t.begin()
	if t.stopped || t.eof[FromServer] {
		return len(p)
	}
	stopAt := t.replied < turn
	for i := 0; i < len(p) && !t.stopped; {
		if stopAt && t.replied >= turn {
			return i
		}
		if t.stls == STLSStarted {
			if !t.tlsNoted {
				t.finding(RuleSTLSReplyFollowed, FromServer, len(p), noteTLSInjection, line{})
				t.tlsNoted = true
			}
			t.srv.reset()
			break
		}
		if t.body.open && t.body.kind == bodyData {
			i = t.scanData(p, i)
			continue
		}
		l, end, done := t.srv.next(p, i, t.limit())
		if !done {
			if b := t.srv.prefix(t.limit()); !t.body.open && !statusPrefixOK(b) {
				t.notStatus(b, t.layerSrv, len(p))
				t.stop(FromServer, len(p), t.junkNote(t.layerSrv, "server"))
			}
			break
		}
		i = end
		if t.body.open {
			t.listLine(l, end)
		} else {
			t.serverLine(l, end)
		}
	}
	return len(p)
}

// EOF reports that dir's stream ended and returns the frames that follow from it: one FrameEOF
// whose Note says what was left unfinished (pending commands, a body cut short, with Lines
// and Octets so far, a partial line, held lines). Further input from dir is ignored.
func (t *Tracker) EOF(dir Direction) []Frame {
	t.begin()
	if t.stopped || (dir != FromClient && dir != FromServer) || t.eof[dir] {
		return t.frames
	}
	t.eof[dir] = true
	f := Frame{Kind: FrameEOF, Dir: dir}
	var notes []string
	if dir == FromServer {
		if t.body.open {
			f.Lines, f.Octets = t.body.lines, t.body.octets
			notes = append(notes, "multi-line reply to "+t.body.cmd.Verb+" cut short after "+
				strconv.FormatInt(t.body.lines, 10)+" lines")
		}
		if t.srv.active {
			notes = append(notes, "last server line has no line ending")
		}
		n, q := t.fifo.len(), t.fifo.afterQuit()
		if n > q {
			notes = append(notes, strconv.Itoa(n-q)+" pending command(s) got no reply")
		}
		if q > 0 {
			notes = append(notes, strconv.Itoa(q)+" command(s) sent after QUIT got no reply, as expected")
		}
	} else {
		if t.cli.active {
			notes = append(notes, "last client line has no line ending")
		}
		if !t.quit && t.state == Transaction {
			notes = append(notes, "client closed without QUIT: no UPDATE")
		}
	}
	if len(t.held) > 0 {
		notes = append(notes, strconv.Itoa(len(t.held))+" held client line(s) never classified")
	}
	if len(notes) == 0 {
		f.Clean = true
		notes = append(notes, dir.String()+" closed the connection")
	}
	f.Note = strings.Join(notes, "; ")
	t.emit(f)
	return t.frames
}

// State returns the session state.
func (t *Tracker) State() State { return t.state }

// STLS returns where the last STLS command stands. A proxy that answers STLS itself can read
// from it whether its answer has been seen (STLSSent until then) and whether it accepted
// (STLSStarted, until the client's next line).
func (t *Tracker) STLS() STLSState { return t.stls }

// ServerMidLine reports whether the server has sent part of a line whose end the tracker has
// not seen yet: a status line, a line of a multi-line reply, or a line of RETR/TOP content. A
// writer that slots its own lines into the server's stream (a proxy answering a command
// itself) must wait while it is true, or its line would land inside the server's. It is false
// once framing has stopped, since lines are no longer followed.
func (t *Tracker) ServerMidLine() bool {
	if t.stopped {
		return false
	}
	if t.body.open && t.body.kind == bodyData {
		return t.body.st != bsBOL
	}
	return t.srv.active
}

// Pending returns the number of commands awaiting a reply, counting the greeting (the
// pseudo-command of RFC 1939 §4) until it has arrived, and a command whose multi-line reply
// is still open.
func (t *Tracker) Pending() int {
	n := t.fifo.len()
	if !t.started {
		n = 1
	}
	if t.body.open {
		n++
	}
	return n
}

// Replied returns how many commands have their reply complete, counting the greeting (the
// pseudo-command of RFC 1939 §4, Seq 0) once it has arrived: a single-line reply counts once
// it has been seen, a multi-line one once its terminator has. Replies come in command order,
// so the command with Frame.Seq n is the next to be answered while Replied() == n. A proxy
// that answers a command itself (its reply fed to Server) uses this to write that answer in
// its turn. Continuations ("+ …") are no reply, and nothing counts once framing has stopped.
func (t *Tracker) Replied() int { return t.replied }

// begin starts a call: it resets the frame slice and, on the first call, queues the greeting.
func (t *Tracker) begin() {
	if cap(t.frames) > maxFramesKept && len(t.frames) <= cap(t.frames)/4 {
		t.frames = nil
	}
	t.frames = t.frames[:0]
	if !t.started {
		t.started = true
		t.fifo.push(pending{greeting: true})
		t.queued = 1
	}
}

// limit returns the line cap in effect.
func (t *Tracker) limit() int {
	switch {
	case t.MaxLine <= 0:
		return DefaultMaxLine
	case t.MaxLine < minMaxLine:
		return minMaxLine
	}
	return t.MaxLine
}

// emit appends f, stamped with the session state.
func (t *Tracker) emit(f Frame) {
	f.State = t.state
	t.frames = append(t.frames, f)
}

// withLine sets the line fields of f from l.
func withLine(f Frame, l line) Frame {
	f.Line, f.Full, f.Truncated = l.b, l.full, l.truncated
	return f
}

// stop reports that framing is lost and makes every later call return nothing.
func (t *Tracker) stop(dir Direction, end int, note string) {
	t.emit(Frame{Kind: FrameStopped, Dir: dir, End: end, Note: note})
	t.stopped = true
	t.held = nil
}

// footprint returns the bytes the tracker holds on to between calls, roughly, frames apart
// (see maxFramesKept).
func (t *Tracker) footprint() int {
	n := t.cli.footprint() + t.srv.footprint() + t.fifo.footprint() + t.conf.footprint()
	for _, h := range t.held {
		n += cap(h.b)
	}
	return n
}

// The notes of frames whose meaning is fixed.
const (
	noteSTLSInjection = "client sent bytes after STLS before its reply (command injection?): not framed, must not be forwarded"
	noteTLSInjection  = "server sent bytes after +OK to STLS before the client spoke (response injection?): not framed"
	noteLoneDotLF     = `lone ".\n" inside a CRLF body: not a terminator`
	noteSASLCut       = "+OK ended AUTH before its mechanism could finish: later client lines are commands, unknown ones stay redacted"
	noteSASLBadByte   = "client line with a NUL or bare CR during AUTH: not SASL data"
	noteNoAuth        = "SASL continuation with no AUTH outstanding"
	notePipeline      = "too many commands awaiting replies"
	noteHeld          = "too many client lines while AUTH awaits the server"
	noteFIFOAfterTLS  = "commands still pending when TLS started"
)

// junkNote says why framing stopped on input that is not POP3.
func (t *Tracker) junkNote(layer bool, who string) string {
	if layer {
		return "SASL security layer: " + who + " data after AUTH is no longer POP3 text"
	}
	return who + " sent data that is not POP3"
}
