package logview

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/fatih/color"

	"github.com/popwire/popwire/internal/redact"
	"github.com/popwire/popwire/internal/termtext"
)

// PrinterOptions configures a Printer. The zero value prints without colour, times in UTC, at
// LevelReplies.
type PrinterOptions struct {
	Color    bool           // emit ANSI colour sequences; decide with UseColor
	Location *time.Location // time zone of the HH:MM:SS.mmm column; nil means UTC
	Level    Level          // how much of each multi-line reply to show; "" means LevelReplies
}

// style is one colour of the Printer: the *color.Color it owns and the escape sequences that
// colour derives, computed once so printing a line does not format them again.
type style struct {
	c           *color.Color
	open, close string // "" when colour is off
}

func newStyle(on bool, attrs ...color.Attribute) style {
	c := color.New(attrs...)
	if on {
		c.EnableColor()
	} else {
		c.DisableColor()
	}
	wrapped := c.Sprint("\x00")
	i := strings.IndexByte(wrapped, 0)
	return style{c: c, open: wrapped[:i], close: wrapped[i+1:]}
}

func (s style) add(dst []byte, text string) []byte {
	dst = append(dst, s.open...)
	dst = termtext.Append(dst, text)
	return append(dst, s.close...)
}

// palette holds the Printer's colours by meaning.
type palette struct {
	faint    style // time, session, secondary facts
	command  style // a client command
	ok       style // +OK
	err      style // -ERR
	cont     style // "+" SASL continuation
	sasl     style // SASL steps
	redacted style // redact.Marker inside a text
	revealed style // the badge of an event holding a revealed secret
	tls      style // TLS facts and encrypted legs
	plain    style // a plaintext leg on loopback
	anomaly  style // anomalies, unverified TLS, plaintext off loopback
	policy   style // local answers and rewrites
	failure  style // error events
	warning  style // process warnings
	meta     style // open, delete and close lines
}

func newPalette(on bool) palette {
	return palette{
		faint:    newStyle(on, color.Faint),
		command:  newStyle(on, color.FgCyan),
		ok:       newStyle(on, color.FgGreen),
		err:      newStyle(on, color.FgRed, color.Bold),
		cont:     newStyle(on, color.FgMagenta),
		sasl:     newStyle(on, color.FgMagenta),
		redacted: newStyle(on, color.FgYellow, color.Faint),
		revealed: newStyle(on, color.BgRed, color.FgHiWhite, color.Bold),
		tls:      newStyle(on, color.FgBlue),
		plain:    newStyle(on, color.FgYellow),
		anomaly:  newStyle(on, color.FgHiYellow, color.Bold),
		policy:   newStyle(on, color.FgHiBlue),
		failure:  newStyle(on, color.FgHiRed, color.Bold),
		warning:  newStyle(on, color.FgYellow, color.Bold),
		meta:     newStyle(on, color.Bold),
	}
}

// sessionWidth is the width of the session column; longer ids are printed whole.
const sessionWidth = 8

// Printer is a Sink that renders events as a readable transcript, one line per event; a body
// adds the audit record of a RETR or TOP and, as its Level says, the reply's lines:
//
//	12:00:01.042 a1b2c3d4 → RETR 1
//	12:00:01.097 a1b2c3d4 ← +OK message follows
//	12:00:01.311 a1b2c3d4 ← — RETR: 1,284 lines, 96.2 KiB
//	12:00:01.311 a1b2c3d4   ✉ msg 1 uid 000000015f3a9c21 sha256 3f2a9c1d4e5f from …
//
// Columns are the time (HH:MM:SS.mmm), the session id and a direction mark: → client to
// server, ← server to client, ↩ answered by popwire itself, • session facts, ! trouble.
// A Printer is safe for concurrent use; each event is written with one Write call.
type Printer struct {
	mu    sync.Mutex
	w     io.Writer
	loc   *time.Location
	level Level
	p     palette
	buf   []byte // reused line buffer, guarded by mu
	pre   []byte // reused prefix of the lines under a body event, guarded by mu
}

// printerKeep is the largest line buffer a Printer keeps between events; a larger one, left
// by a message printed at LevelFull, is let go.
const printerKeep = 64 << 10

// NewPrinter returns a Printer writing to w. The Printer does not close w.
func NewPrinter(w io.Writer, opts PrinterOptions) *Printer {
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	level := opts.Level
	if level == "" {
		level = LevelReplies
	}
	return &Printer{w: w, loc: loc, level: level, p: newPalette(opts.Color), buf: make([]byte, 0, 256)}
}

// usesContent reports whether p prints message content: only at LevelFull.
func (p *Printer) usesContent() bool { return p.level == LevelFull }

// Emit prints e. It returns the write error, if any, wrapped.
func (p *Printer) Emit(e Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = p.appendEvent(p.buf[:0], &e)
	_, err := p.w.Write(p.buf)
	if cap(p.buf) > printerKeep {
		p.buf = nil
	}
	if err != nil {
		return fmt.Errorf("logview: print event: %w", err)
	}
	return nil
}

// appendPrefix appends the time, session and mark columns.
func (p *Printer) appendPrefix(dst []byte, e *Event, mark string) []byte {
	dst = append(dst, p.p.faint.open...)
	dst = e.Time.In(p.loc).AppendFormat(dst, "15:04:05.000")
	dst = append(dst, ' ')
	session := e.Session
	if session == "" {
		session = "-"
	}
	dst = termtext.Append(dst, session)
	for i := len(session); i < sessionWidth; i++ {
		dst = append(dst, ' ')
	}
	dst = append(dst, p.p.faint.close...)
	dst = append(dst, ' ')
	dst = append(dst, mark...)
	dst = append(dst, ' ')
	if e.Revealed {
		dst = p.p.revealed.add(dst, " REVEALED ")
		dst = append(dst, ' ')
	}
	return dst
}

func dirMark(dir Dir) string {
	switch dir {
	case DirClientToServer:
		return "→"
	case DirServerToClient:
		return "←"
	case DirLocal:
		return "↩"
	}
	return "•"
}

func (p *Printer) appendEvent(dst []byte, e *Event) []byte {
	switch e.Kind {
	case KindOpen:
		dst = p.appendPrefix(dst, e, "•")
		dst = p.appendOpen(dst, e)
	case KindTLS:
		dst = p.appendPrefix(dst, e, "•")
		dst = p.appendTLS(dst, e)
	case KindConnect:
		dst = p.appendPrefix(dst, e, "•")
		dst = p.appendConnect(dst, e)
	case KindGreeting, KindReply:
		mark := dirMark(e.Dir)
		if e.Dir == "" {
			mark = "←"
		}
		dst = p.appendPrefix(dst, e, mark)
		dst = p.appendStatusLine(dst, e)
		if e.Dir == DirLocal {
			dst = p.p.faint.add(dst, "  (answered by popwire)")
		}
	case KindCommand:
		mark := dirMark(e.Dir)
		if e.Dir == "" {
			mark = "→"
		}
		dst = p.appendPrefix(dst, e, mark)
		dst = p.appendText(dst, p.p.command, e.Text)
		if e.Dir == DirLocal {
			dst = p.p.faint.add(dst, "  (not forwarded)")
		}
	case KindBody:
		dst = p.appendPrefix(dst, e, "←")
		dst = p.appendBody(dst, e)
	case KindSASL:
		dst = p.appendPrefix(dst, e, dirMark(e.Dir))
		dst = p.appendSASL(dst, e)
	case KindPolicy:
		dst = p.appendPrefix(dst, e, "↩")
		dst = p.p.policy.add(dst, "policy ")
		dst = p.p.policy.add(dst, e.Action)
		if e.Verb != "" {
			dst = append(dst, ' ')
			dst = p.p.command.add(dst, e.Verb)
		}
		if e.Text != "" {
			dst = append(dst, ": "...)
			dst = p.appendText(dst, style{}, e.Text)
		}
	case KindAnomaly:
		dst = p.appendPrefix(dst, e, "!")
		dst = p.p.anomaly.add(dst, "anomaly")
		if e.Dir != "" {
			dst = append(dst, ' ')
			dst = p.p.faint.add(dst, string(e.Dir))
		}
		dst = append(dst, ": "...)
		dst = p.appendText(dst, style{}, e.Text)
	case KindFinding:
		dst = p.appendPrefix(dst, e, "!")
		dst = p.appendFinding(dst, e)
	case KindError:
		dst = p.appendPrefix(dst, e, "!")
		dst = p.p.failure.add(dst, "error: ")
		dst = p.p.failure.add(dst, e.Err)
	case KindWarning:
		dst = p.appendPrefix(dst, e, "!")
		dst = p.p.warning.add(dst, "warning: ")
		dst = p.appendText(dst, p.p.warning, e.Text)
	case KindDropped:
		dst = p.appendPrefix(dst, e, "!")
		dst = p.appendText(dst, p.p.warning, e.Text)
	case KindReload:
		dst = p.appendPrefix(dst, e, "•")
		dst = p.appendText(dst, p.p.meta, e.Text)
	case KindDelete:
		dst = p.appendPrefix(dst, e, "•")
		dst = p.p.meta.add(dst, "DELE ")
		dst = appendMsgRef(dst, e.Msg, e.UID)
		dst = p.p.faint.add(dst, " marked deleted; removed only if QUIT commits")
	case KindClose:
		dst = p.appendPrefix(dst, e, "•")
		dst = p.appendClose(dst, e)
	default:
		dst = p.appendPrefix(dst, e, "?")
		dst = termtext.Append(dst, string(e.Kind))
		if e.Text != "" {
			dst = append(dst, ' ')
			dst = p.appendText(dst, style{}, e.Text)
		}
	}
	dst = append(dst, '\n')
	if e.Kind == KindBody {
		dst = p.appendBodyDetail(dst, e)
	}
	return dst
}

// appendText appends a logged line in s, highlighting each redact.Marker and making control
// characters visible so a hostile line cannot move the cursor or forge another line.
func (p *Printer) appendText(dst []byte, s style, text string) []byte {
	dst = append(dst, s.open...)
	for text != "" {
		i := strings.Index(text, redact.Marker)
		chunk := text
		if i >= 0 {
			chunk = text[:i]
		}
		dst = termtext.Append(dst, chunk)
		if i < 0 {
			break
		}
		dst = append(dst, s.close...)
		dst = p.p.redacted.add(dst, redact.Marker)
		dst = append(dst, s.open...)
		text = text[i+len(redact.Marker):]
	}
	return append(dst, s.close...)
}

func (p *Printer) statusStyle(status string) style {
	switch status {
	case "+OK":
		return p.p.ok
	case "-ERR":
		return p.p.err
	case "+":
		return p.p.cont
	}
	return style{}
}

// appendStatusLine appends a greeting or reply: the status in its colour, the response code
// and the text.
func (p *Printer) appendStatusLine(dst []byte, e *Event) []byte {
	if e.Status == "" {
		return p.appendText(dst, style{}, e.Text)
	}
	dst = p.statusStyle(e.Status).add(dst, e.Status)
	if e.Code != "" {
		dst = append(dst, " ["...)
		dst = termtext.Append(dst, e.Code)
		dst = append(dst, ']')
	}
	if e.Text != "" {
		dst = append(dst, ' ')
		dst = p.appendText(dst, style{}, e.Text)
	}
	return dst
}

func (p *Printer) appendBody(dst []byte, e *Event) []byte {
	dst = append(dst, "— "...)
	if e.Answers != "" {
		dst = p.p.faint.add(dst, e.Answers)
		dst = append(dst, ": "...)
	}
	dst = appendCount(dst, e.Lines, "line", "lines")
	dst = append(dst, ", "...)
	dst = appendSize(dst, e.Bytes)
	if e.Listing == nil && e.Text != "" && p.level != LevelSummary {
		// A log of an earlier build: a CAPA, AUTH or LANG listing, joined in Text.
		dst = append(dst, ": "...)
		dst = p.appendText(dst, style{}, e.Text)
	}
	return dst
}

// appendMsgRef names a message by number and UID; a zero number (unknown) is left out.
func appendMsgRef(dst []byte, msg int, uid string) []byte {
	if msg != 0 || uid == "" {
		dst = append(dst, "msg "...)
		dst = appendGrouped(dst, int64(msg))
		if uid == "" {
			return dst
		}
		dst = append(dst, ' ')
	}
	dst = append(dst, "uid "...)
	return termtext.Append(dst, uid)
}

// sha256Prefix is how many hex digits of a SHA-256 the transcript shows.
const sha256Prefix = 12

func (p *Printer) appendAudit(dst []byte, m *MessageInfo) []byte {
	dst = p.p.meta.add(dst, "✉ ")
	if m.Top {
		dst = p.p.faint.add(dst, "TOP (partial) ")
	}
	return appendAuditFacts(dst, m)
}

// appendAuditFacts appends the audit facts of a message: number, UID, SHA-256 prefix, sender
// and subject.
func appendAuditFacts(dst []byte, m *MessageInfo) []byte {
	dst = appendMsgRef(dst, m.Msg, m.UID)
	if m.SHA256 != "" {
		dst = append(dst, " sha256 "...)
		dst = termtext.Append(dst, m.SHA256[:min(len(m.SHA256), sha256Prefix)])
	}
	if m.From != "" {
		dst = append(dst, " from "...)
		dst = termtext.Append(dst, m.From)
	}
	if m.Subject != "" {
		dst = append(dst, " subject "...)
		dst = appendQuoted(dst, m.Subject)
	}
	return dst
}

func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, "“"...)
	dst = termtext.Append(dst, s)
	return append(dst, "”"...)
}

func (p *Printer) appendSASL(dst []byte, e *Event) []byte {
	dst = p.p.sasl.add(dst, "SASL")
	if e.Mech != "" {
		dst = append(dst, ' ')
		dst = p.p.sasl.add(dst, e.Mech)
	}
	if e.Step > 0 {
		dst = p.p.faint.add(dst, " step ")
		dst = append(dst, p.p.faint.open...)
		dst = appendGrouped(dst, int64(e.Step))
		dst = append(dst, p.p.faint.close...)
	}
	if e.Status != "" {
		dst = append(dst, ' ')
		dst = p.statusStyle(e.Status).add(dst, e.Status)
	}
	if e.Text != "" {
		dst = append(dst, ": "...)
		dst = p.appendText(dst, p.p.sasl, e.Text)
	}
	return dst
}

// appendOpen states each leg's security plainly:
// client 127.0.0.1:5123 ⇄ plaintext (local) │ upstream pop.gmail.com:995 ⇄ TLS
func (p *Printer) appendOpen(dst []byte, e *Event) []byte {
	dst = p.p.meta.add(dst, "open ")
	dst = append(dst, "client "...)
	dst = termtext.Append(dst, orDash(e.Client))
	if e.Via != "" {
		dst = append(dst, " (through proxy "...)
		dst = termtext.Append(dst, e.Via)
		dst = append(dst, ')')
	}
	dst = append(dst, " ⇄ "...)
	dst = p.appendSecurity(dst, e.ClientSec, isLoopback(e.Client))
	if e.Listener != "" {
		dst = p.p.faint.add(dst, " via ")
		dst = append(dst, p.p.faint.open...)
		dst = termtext.Append(dst, e.Listener)
		dst = append(dst, " listener"...)
		dst = append(dst, p.p.faint.close...)
	}
	dst = append(dst, " │ upstream "...)
	dst = termtext.Append(dst, orDash(e.Upstream))
	dst = append(dst, " ⇄ "...)
	return p.appendSecurity(dst, e.UpstreamSec, isLoopback(e.Upstream))
}

// appendConnect names both ends of a leg that connected: popwire's, then the peer's.
func (p *Printer) appendConnect(dst []byte, e *Event) []byte {
	dst = p.p.meta.add(dst, "connect ")
	dst = termtext.Append(dst, orDash(string(e.Leg)))
	dst = append(dst, " leg "...)
	dst = termtext.Append(dst, orDash(e.Local))
	dst = append(dst, " → "...)
	return termtext.Append(dst, orDash(e.Upstream))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// appendSecurity names a leg's security. Plaintext on loopback is said to be local; plaintext
// anywhere else is flagged as unencrypted in the anomaly colour.
func (p *Printer) appendSecurity(dst []byte, sec string, loopback bool) []byte {
	switch sec {
	case "tls":
		return p.p.tls.add(dst, "TLS")
	case "stls":
		dst = p.p.plain.add(dst, "plaintext")
		return p.p.tls.add(dst, " → STLS")
	case "plaintext":
		if loopback {
			return p.p.plain.add(dst, "plaintext (local)")
		}
		return p.p.anomaly.add(dst, "PLAINTEXT (unencrypted)")
	case "":
		return p.p.faint.add(dst, "unknown")
	}
	return p.p.anomaly.add(dst, sec)
}

// isLoopback reports whether addr (HOST:PORT or HOST) is a loopback IP address or localhost.
func isLoopback(addr string) bool {
	host := addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().IsLoopback()
	}
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host = strings.Trim(addr[:i], "[]")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().IsLoopback()
	}
	return host == "localhost"
}

func (p *Printer) appendTLS(dst []byte, e *Event) []byte {
	dst = p.p.tls.add(dst, "TLS ")
	dst = termtext.Append(dst, orDash(string(e.Leg)))
	dst = append(dst, " leg"...)
	t := e.TLS
	if t == nil {
		return dst
	}
	dst = append(dst, ": "...)
	dst = p.p.tls.add(dst, t.Version)
	dst = append(dst, ' ')
	dst = termtext.Append(dst, t.Cipher)
	if t.SNI != "" {
		dst = append(dst, " sni "...)
		dst = termtext.Append(dst, t.SNI)
	}
	if t.PeerSubject != "" {
		dst = append(dst, " peer "...)
		dst = termtext.Append(dst, t.PeerSubject)
	}
	if t.Verified {
		return p.p.ok.add(dst, " verified")
	}
	if e.Leg == LegClient && t.VerifyErr == "" {
		return p.p.faint.add(dst, " (no client certificate)")
	}
	dst = p.p.anomaly.add(dst, " NOT verified")
	if t.VerifyErr != "" {
		dst = append(dst, ": "...)
		dst = p.appendText(dst, p.p.anomaly, t.VerifyErr)
	}
	return dst
}

func (p *Printer) appendClose(dst []byte, e *Event) []byte {
	dst = p.p.meta.add(dst, "close")
	s := e.Summary
	if s == nil {
		return dst
	}
	dst = append(dst, ' ')
	dst = termtext.Append(dst, s.Duration)
	dst = append(dst, ", "...)
	dst = appendCount(dst, int64(s.Commands), "command", "commands")
	dst = append(dst, ", ↑ "...)
	dst = appendSize(dst, s.BytesUp)
	dst = append(dst, " ↓ "...)
	dst = appendSize(dst, s.BytesDown)
	if len(s.Retrieved) > 0 {
		dst = append(dst, ", retrieved "...)
		dst = appendList(dst, s.Retrieved)
	}
	if len(s.Deleted) > 0 {
		dst = append(dst, ", deleted "...)
		dst = appendList(dst, s.Deleted)
	}
	switch {
	case s.Committed:
		dst = append(dst, " — "...)
		dst = p.p.ok.add(dst, "committed")
	case len(s.Deleted) > 0:
		dst = append(dst, " — "...)
		dst = p.p.anomaly.add(dst, "NOT committed: the server keeps the deleted messages")
	default:
		dst = append(dst, " — "...)
		dst = p.p.faint.add(dst, "not committed")
	}
	if s.Reason != "" {
		dst = append(dst, " ("...)
		dst = termtext.Append(dst, s.Reason)
		dst = append(dst, ')')
	}
	return dst
}

func appendList(dst []byte, items []string) []byte {
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = termtext.Append(dst, it)
	}
	return dst
}
