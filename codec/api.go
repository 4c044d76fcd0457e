// CONTRACT SKETCH — written by the lead so that proxy/, probe/ and shell/ can be built in
// parallel with the codec. The codec owner replaces this file with the real implementation
// (split into small files, one concept each) and may ADD to this API freely; renaming or
// removing anything below must be announced to the lead first.

package codec

import "errors"

// Direction says which peer sent a line.
type Direction uint8

const (
	FromClient Direction = iota + 1
	FromServer
)

// State is the POP3 session state of RFC 1939 §3.
type State uint8

const (
	Authorization State = iota // zero value: a new session
	Transaction
	Update
)

// Command is one parsed client command line (RFC 1939 §3, RFC 2449 §3).
type Command struct {
	Verb string // keyword in upper case ("RETR"); known verbs are interned (no allocation)
	Arg  string // everything after the keyword and its separator, trailing blanks trimmed; "" when none
}

// HasArg reports whether the command has an argument after trimming blanks (RFC 1939 §3; "LIST ␍␊" has none).
func (c Command) HasArg() bool { return c.Arg != "" }

// Status is the first token of a server line.
type Status uint8

const (
	StatusOK       Status = iota + 1 // "+OK"
	StatusErr                        // "-ERR"
	StatusContinue                   // "+ " or bare "+": SASL continuation (RFC 5034 §4)
)

// Reply is one parsed server status line.
type Reply struct {
	Status    Status
	Code      string // RFC 2449 §8 response code without brackets ("SYS/TEMP"), "" when none
	Text      string // text after the status and code, "" when none
	Timestamp string // APOP timestamp "<…>" (RFC 1939 §7) when the text holds one, else ""
}

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("codec: syntax error")

// ParseCommand parses one client line, with or without its line ending.
func ParseCommand(line []byte) (Command, error) { panic("codec: not implemented") }

// ParseReply parses one server status line, with or without its line ending.
func ParseReply(line []byte) (Reply, error) { panic("codec: not implemented") }

// FrameKind says what a Frame is.
type FrameKind uint8

const (
	FrameGreeting FrameKind = iota + 1 // server greeting (answers the pseudo-command at the head of the FIFO)
	FrameCommand                       // a client command line; Cmd set
	FrameHeld                          // a client line sent while AUTH is outstanding and no challenge is pending;
	// its classification (FrameCommand or FrameSASL) is delivered later,
	// from Server, once the server's next line shows what it was
	FrameSASL      // a client SASL response line (Auth set); "*" cancels
	FrameReply     // a server status line answering Cmd; Multi when a body follows
	FrameChallenge // a server "+ …" continuation answering the AUTH in Cmd
	FrameListLine  // one body line of a multi-line reply other than RETR/TOP
	// (CAPA, LIST, UIDL, AUTH, LANG, …), unstuffed, capped
	FrameBodyData // unstuffed RETR/TOP content, a sub-slice of the chunk (only when
	// Tracker.BodyData is set); never includes the terminator
	FrameBodyEnd     // the terminating "." of a multi-line reply; Lines and Octets set
	FrameUnsolicited // a server status line with nothing pending (e.g. Dovecot's idle -ERR)
	FrameAnomaly     // something non-conformant that framing survived (Note says what)
	FrameTLS         // +OK to STLS: the next bytes are TLS; framing restarts after it
	FrameStopped     // framing lost (junk, SASL security layer): reported once, then nothing
	FrameEOF         // the stream ended: pending commands got no reply, a body was cut short
)

// Frame is one framing event. Frames returned by Client and Server, and every slice they hold,
// are valid only until the next call on the same Tracker.
type Frame struct {
	Kind      FrameKind
	Dir       Direction
	Line      []byte // the line without its line ending, capped at the tracker's line limit
	Truncated bool   // Line was cut; Full is the real length
	Full      int    // the line's full length in bytes, without its line ending
	Cmd       Command
	Reply     Reply
	Multi     bool   // FrameReply: a body follows
	Lines     int64  // FrameBodyEnd: body lines (terminator excluded)
	Octets    int64  // FrameBodyEnd: body wire bytes (stuffing included, terminator excluded)
	Data      []byte // FrameBodyData: unstuffed content
	End       int    // offset in the chunk just passed, right after this frame's last byte
	Auth      *Auth  // set on secret-bearing client lines (PASS, APOP, AUTH and its SASL lines, unknown lines in AUTHORIZATION)
	Note      string // FrameAnomaly, FrameStopped, FrameEOF: what happened
	State     State  // session state after this frame
}

// Redacted is the fixed marker that replaces a secret in Auth.Safe; it does not reveal length.
const Redacted = "[redacted]"

// Auth describes a secret-bearing client line per the mechanism table of the reference (§3.3).
type Auth struct {
	Mech    string   // "PASS", "APOP", "PLAIN", "LOGIN", "XOAUTH2", …, or "" for an unrecognised line
	Step    int      // 0 for the AUTH line or initial response, then 1, 2, … per client answer
	User    string   // the identity that is safe to show (user, authcid, authzid), "" when none
	Safe    string   // the whole line rendered for logs with every secret replaced by Redacted
	Secrets [][]byte // every secret as it appears on the wire and decoded (for taint checks on the next server line)
}

// Tracker follows one POP3 session in both directions. The zero value is ready to use and
// expects a greeting first. Feed it bytes in wire order; it never buffers a body.
type Tracker struct {
	MaxLine  int  // cap on the logged copy of a line; 0 means 16 KiB. Never limits what is framed.
	BodyData bool // emit FrameBodyData for RETR/TOP content
}

// Client feeds bytes the client sent and returns the frames they complete.
func (t *Tracker) Client(p []byte) []Frame { panic("codec: not implemented") }

// Server feeds bytes the server sent and returns the frames they complete.
func (t *Tracker) Server(p []byte) []Frame { panic("codec: not implemented") }

// EOF reports that dir's stream ended and returns the frames that follow from it.
func (t *Tracker) EOF(dir Direction) []Frame { panic("codec: not implemented") }

// State returns the session state.
func (t *Tracker) State() State { panic("codec: not implemented") }

// InBody reports whether a multi-line body is open on the server side.
func (t *Tracker) InBody() bool { panic("codec: not implemented") }

// Pending returns the number of commands awaiting a reply.
func (t *Tracker) Pending() int { panic("codec: not implemented") }
