package codec

// FrameKind says what a Frame is. The zero value is no frame.
type FrameKind uint8

// The kinds of frame a Tracker emits.
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

var frameKindNames = [...]string{
	FrameGreeting: "greeting", FrameCommand: "command", FrameHeld: "held", FrameSASL: "sasl",
	FrameReply: "reply", FrameChallenge: "challenge", FrameListLine: "list-line",
	FrameBodyData: "body-data", FrameBodyEnd: "body-end", FrameUnsolicited: "unsolicited",
	FrameAnomaly: "anomaly", FrameTLS: "tls", FrameStopped: "stopped", FrameEOF: "eof",
}

// String returns a short lower-case name for the kind ("reply", "body-end"), or "" for an
// unknown kind.
func (k FrameKind) String() string {
	if int(k) < len(frameKindNames) {
		return frameKindNames[k]
	}
	return ""
}

// Frame is one framing event. Frames returned by Client, Server and EOF, and every slice they
// hold except those inside Auth, are owned by the Tracker and valid only until the next call on
// the same Tracker.
//
// When Auth is non-nil the line carried a secret (or may have): Line is then the raw line and
// must never be logged; Cmd is already sanitised (its Arg is the safe rendering, and its Verb is
// "" for an unrecognised line); log Auth.Safe. Keyword is for decisions (a policy on commands),
// never for logs: an unrecognised keyword in AUTHORIZATION may be a password sent as a line.
type Frame struct {
	Kind      FrameKind
	Dir       Direction
	Truncated bool   // Line was cut; Full is the real length
	Line      []byte // the line without its line ending, capped at the tracker's line limit
	Full      int    // the line's full length in bytes, without its line ending
	Cmd       Command
	Keyword   string // FrameCommand: the keyword as ParseCommand reads it, in upper case, also when Cmd hides it; "" when the line is not a command line (Note says why)
	Seq       int    // FrameCommand: the command's place in the session, from 1 (the greeting is 0); its reply is complete once Tracker.Replied exceeds it
	Reply     Reply
	Multi     bool   // FrameReply: a body follows
	Lines     int64  // FrameBodyEnd, and FrameEOF for a body cut short: body lines (terminator excluded)
	Octets    int64  // FrameBodyEnd, and FrameEOF for a body cut short: body wire bytes (stuffing included, terminator excluded)
	Data      []byte // FrameBodyData: unstuffed content
	End       int    // offset in the chunk just passed, right after this frame's last byte (see Tracker)
	Auth      *Auth  // set on secret-bearing client lines (PASS, APOP, AUTH and its SASL lines, unknown lines in AUTHORIZATION) and on USER
	Note      string // FrameAnomaly, FrameStopped, FrameEOF: what happened; FrameCommand: why the line is not a command line
	Rule      Rule   // FrameAnomaly: the rule broken when the anomaly is a conformance finding (Note is then the evidence in the codec's words, and Line, when set, the server line that shows it); 0 for other anomalies
	Clean     bool   // FrameEOF: the stream ended with nothing unfinished (no pending command, open body or partial line)
	State     State  // session state after this frame
}
