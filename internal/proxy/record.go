package proxy

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/audit"
	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/metrics"
	"github.com/popwire/popwire/internal/redact"
)

// Bodies says what the recorder keeps of RETR and TOP content; its values are the words
// --bodies takes.
type Bodies string

// The values of LogOptions.Bodies.
const (
	BodiesNone    Bodies = "none"    // line and byte counts only
	BodiesHeaders Bodies = "headers" // plus SHA-256 and the decoded From, To, Subject, Date, Message-ID
	BodiesFull    Bodies = "full"    // plus the content itself, up to audit.DefaultMaxBody bytes
)

// DefaultContentBudget is the most message content, in bytes, that all sessions of a Server
// hold at once under BodiesFull when LogOptions.ContentBudget is zero.
const DefaultContentBudget = 64 << 20

// LogOptions says what a session's log shows. The zero value keeps header summaries, shows
// user names and redacts every secret.
type LogOptions struct {
	Bodies            Bodies // BodiesNone, BodiesHeaders or BodiesFull; "" means BodiesHeaders
	HideUsers         bool   // replace user names with a keyed hash (see UserKey)
	UserKey           []byte // HMAC key for HideUsers; the same key gives the same names across runs
	RevealCredentials bool   // log secrets in clear; every event that shows one is marked Revealed
	// ContentBudget bounds the message content (BodiesFull) that all sessions hold at once,
	// from its first byte until the log has let go of it; beyond it a message's content is
	// left out and its event says so. 0 means DefaultContentBudget.
	ContentBudget int64
	// SkipReplyLines leaves the lines of multi-line replies other than message content out of
	// the body events, which then hold only their counts: for when no output shows them.
	SkipReplyLines bool

	budget *audit.Budget // the Server's, shared by its sessions; nil bounds nothing
}

// withBudget returns o with a content budget of its own, for one Server.
func (o LogOptions) withBudget() LogOptions {
	limit := o.ContentBudget
	if limit <= 0 {
		limit = DefaultContentBudget
	}
	o.budget = audit.NewBudget(limit)
	return o
}

// recorder turns one session's codec frames into log events. It is the one place where a
// frame becomes an event, so it is also where redaction happens: every client line that the
// codec marks as secret-bearing is logged through Auth.Safe, and every server line and error
// text is scrubbed of the secrets the session has seen (servers do echo input, and a client
// that pipelines USER and PASS gets the echo of PASS two lines later). With HideUsers every
// user name the session named is hidden the same way (see redact.Scrubber), in the message
// audit too. A recorder is safe for concurrent use: both pumps and the session's timers report to it.
type recorder struct {
	sink    logview.Sink
	stats   *metrics.Route // counts frames whether or not a sink logs them; nil counts nothing; set before the session runs
	session string
	opts    LogOptions
	start   time.Time

	mu        sync.Mutex      // guards everything below
	user      string          // display name: as sent, or hashed with HideUsers
	redact    redact.Scrubber // takes out the secrets (none with RevealCredentials) and user names (with HideUsers)
	state     codec.State
	commands  int
	msg       audit.Message
	msgNum    int           // the message a RETR or TOP body belongs to
	msgOpen   bool          // a RETR or TOP body is being audited
	listLines listing       // the lines of the multi-line reply being read, for its body event
	mailbox   audit.Mailbox // what RETR, DELE, RSET and QUIT did, and the UIDs that name messages
	quitSent  bool
	quitOK    atomic.Bool // the server answered QUIT with +OK: the session ended by QUIT (set by count, without mu)
}

// newRecorder returns a recorder for one session; a nil sink discards events.
func newRecorder(sink logview.Sink, session string, opts LogOptions) *recorder {
	if opts.Bodies == "" {
		opts.Bodies = BodiesHeaders
	}
	r := &recorder{sink: sink, session: session, opts: opts, start: time.Now(), redact: redact.Scrubber{Key: opts.UserKey}}
	if opts.Bodies == BodiesFull {
		r.msg.KeepBody = true
		r.msg.Budget = opts.budget
	}
	return r
}

// event completes a session-level event (open, tls, policy, error, close, warning) and emits
// it: it sets the schema version, the time, the session and the user, and scrubs every secret
// the session has seen from Text and Err.
func (r *recorder) event(e logview.Event) {
	if r.sink == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e.Text = r.redact.Scrub(e.Text)
	e.Err = r.redact.Scrub(e.Err)
	r.emit(e)
}

func (r *recorder) emit(e logview.Event) {
	if r.sink == nil {
		return
	}
	e = logview.Stamp(e)
	e.Session = r.session
	if e.User == "" {
		e.User = r.user
	}
	// A sink that fails reports it itself; forwarding must not stop for the log.
	_ = r.sink.Emit(e)
}

// frame records one tracker frame. leg names the side whose bytes produced it: the client,
// the upstream, or logview.LegLocal for a local answer (deny, STLS, require-TLS) and a command
// answered locally. Its Dir is written on anomalies so that a reader knows whose framing broke.
func (r *recorder) frame(f *codec.Frame, leg logview.Leg) {
	r.count(f, leg)
	if r.sink == nil {
		return // nothing logs: no event to build, no body to audit
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch f.Kind {
	case codec.FrameGreeting:
		r.emit(logview.Event{Kind: logview.KindGreeting, Dir: logview.DirServerToClient, Status: f.Reply.Status.String(),
			Code: f.Reply.Code, Text: r.serverText(f)})
	case codec.FrameCommand:
		r.command(f, leg == logview.LegLocal)
	case codec.FrameSASL:
		r.sasl(f, leg == logview.LegLocal)
	case codec.FrameChallenge:
		r.emit(logview.Event{Kind: logview.KindSASL, Dir: logview.DirServerToClient, Answers: f.Cmd.Verb, Status: "+",
			Text: r.serverText(f)})
	case codec.FrameReply, codec.FrameTLS:
		r.reply(f, leg)
	case codec.FrameUnsolicited:
		r.emit(logview.Event{Kind: logview.KindReply, Dir: logview.DirServerToClient, Status: f.Reply.Status.String(),
			Code: f.Reply.Code, Text: r.serverText(f)})
	case codec.FrameListLine:
		r.listLine(f)
	case codec.FrameBodyData:
		if r.msgOpen {
			// Message.Write never fails.
			_, _ = r.msg.Write(f.Data)
		}
	case codec.FrameBodyEnd:
		r.bodyEnd(f)
	case codec.FrameAnomaly, codec.FrameStopped, codec.FrameEOF:
		if f.Rule != 0 {
			r.finding(f, leg)
			break
		}
		if f.Note == "" || f.Clean {
			return // a clean end of stream is told by the close event
		}
		text := f.Note
		if f.Kind == codec.FrameStopped {
			text = "framing stopped: " + text
		}
		r.emit(anomalyEvent(leg, r.redact.Scrub(text)))
	}
	r.state = f.State
}

// anomaly records non-conformant input from leg that the session survived.
func (r *recorder) anomaly(leg logview.Leg, text string) { r.event(anomalyEvent(leg, text)) }

func anomalyEvent(leg logview.Leg, text string) logview.Event {
	return logview.Event{Kind: logview.KindAnomaly, Dir: logview.LegDir(leg), Text: text}
}

// command records a client command; local says popwire answers it and never forwards it.
func (r *recorder) command(f *codec.Frame, local bool) {
	r.commands++
	e := logview.Event{Kind: logview.KindCommand, Dir: logview.DirClientToServer, Verb: f.Cmd.Verb}
	if local {
		e.Dir = logview.DirLocal
	}
	if f.Auth != nil {
		r.learnUser(f.Auth)
		r.remember(f.Auth.Secrets)
		e.Text, e.Redacted, e.Revealed = r.authText(f)
		if f.Auth.Mech != "" && f.Auth.Mech != "USER" && f.Auth.Mech != "PASS" && f.Auth.Mech != "APOP" {
			e.Mech = f.Auth.Mech
		}
	} else {
		e.Text = r.redact.Scrub(lineText(f))
	}
	if f.Cmd.Verb == "QUIT" && !local {
		r.quitSent = true
	}
	r.emit(e)
}

// sasl records a client's SASL answer; local says popwire answered it (the OAuth bridge) and
// never forwarded it.
func (r *recorder) sasl(f *codec.Frame, local bool) {
	e := logview.Event{Kind: logview.KindSASL, Dir: logview.DirClientToServer, Answers: f.Cmd.Verb}
	if local {
		e.Dir = logview.DirLocal
	}
	if f.Auth != nil {
		r.learnUser(f.Auth)
		r.remember(f.Auth.Secrets)
		e.Mech, e.Step = f.Auth.Mech, f.Auth.Step+1 // the log counts steps from 1
		e.Text, e.Redacted, e.Revealed = r.authText(f)
	} else {
		e.Text = r.redact.Scrub(lineText(f))
	}
	r.emit(e)
}

// authText renders a secret-bearing client line: the codec's safe form, or with
// RevealCredentials the line as sent; with HideUsers, without the user names.
func (r *recorder) authText(f *codec.Frame) (text string, redacted, revealed bool) {
	if r.opts.RevealCredentials && len(f.Auth.Secrets) > 0 {
		return r.redact.HideNames(lineText(f)), false, true
	}
	return r.redact.HideNames(f.Auth.Safe), len(f.Auth.Secrets) > 0, false
}

// reply records a status line; logview.LegLocal marks an answer popwire wrote itself.
func (r *recorder) reply(f *codec.Frame, leg logview.Leg) {
	dir := logview.DirServerToClient
	if leg == logview.LegLocal {
		dir = logview.DirLocal
	}
	e := logview.Event{Kind: logview.KindReply, Dir: dir, Answers: f.Cmd.Verb,
		Status: f.Reply.Status.String(), Code: f.Reply.Code, Text: r.serverText(f)}
	if f.Reply.Status == codec.StatusOK {
		r.okReply(f, &e)
	}
	r.emit(e)
	if e.Answers == "DELE" && e.Msg != 0 {
		// After the +OK that it follows from.
		r.emit(logview.Event{Kind: logview.KindDelete, Dir: dir, Msg: e.Msg, UID: e.UID})
	}
}

// okReply follows the effects of a +OK on the mailbox: which message a body belongs to,
// deletions marked and unmarked, and whether QUIT committed them (RFC 1939 §6).
func (r *recorder) okReply(f *codec.Frame, e *logview.Event) {
	switch f.Cmd.Verb {
	case "RETR", "TOP":
		n, ok := msgNumber(f.Cmd.Arg)
		r.msgOpen = ok && f.Multi && r.opts.Bodies != BodiesNone
		r.msgNum = n
		if r.msgOpen {
			r.msg.Reset()
		}
	case "UIDL":
		if !f.Multi {
			r.mailbox.LearnUID([]byte(f.Reply.Text))
		}
	case "DELE":
		if n, ok := msgNumber(f.Cmd.Arg); ok {
			e.Msg, e.UID = n, r.mailbox.UID(n)
			r.mailbox.Delete(n)
		}
	case "RSET":
		r.mailbox.Reset()
	case "QUIT":
		r.mailbox.Quit(r.state == codec.Transaction)
	}
	if f.Multi {
		r.listLines.reset()
	}
}

// maxTextItems caps how many lines of a CAPA, AUTH or LANG listing the body event's Text
// repeats, as earlier builds wrote them.
const maxTextItems = 64

func (r *recorder) listLine(f *codec.Frame) {
	if f.Cmd.Verb == "UIDL" {
		r.mailbox.LearnUID(f.Line)
	}
	if !r.opts.SkipReplyLines {
		r.listLines.add(f.Line, max(f.Full, len(f.Line)), f.Truncated)
	}
}

func (r *recorder) bodyEnd(f *codec.Frame) {
	e := logview.Event{Kind: logview.KindBody, Dir: logview.DirServerToClient, Answers: f.Cmd.Verb, Lines: f.Lines, Bytes: f.Octets}
	e.Listing = r.listLines.take(r.redact.Scrub)
	switch f.Cmd.Verb {
	case "CAPA", "AUTH", "LANG":
		if e.Listing != nil {
			e.Text = strings.Join(e.Listing.Lines[:min(len(e.Listing.Lines), maxTextItems)], ", ")
		}
	}
	if r.msgOpen {
		r.msgOpen = false
		res := r.msg.Result()
		r.msg.Reset() // the event holds the one copy of the content; the session keeps none
		top := f.Cmd.Verb == "TOP"
		e.Message = &logview.MessageInfo{Msg: r.msgNum, UID: r.mailbox.UID(r.msgNum), Octets: res.Octets,
			SHA256: res.SHA256, From: r.redact.Scrub(res.From), To: r.redact.Scrub(res.To), Cc: r.redact.Scrub(res.Cc),
			Subject: r.redact.Scrub(res.Subject), Date: res.Date, MessageID: r.redact.Scrub(res.MessageID), Top: top,
			ContentTruncated: res.BodyTruncated, ContentOmitted: res.BodyOmitted,
			HeaderTruncated: res.HeaderTruncated, HeaderMalformed: res.HeaderMalformed}
		e.Message.Content = r.scrubContent(res.Body, e.Message)
		if !top {
			r.mailbox.Retrieve(r.msgNum)
		}
	}
	r.emit(e)
	if e.Message != nil {
		e.Message.Content.Release() // the outputs that queued the event hold their own references
	}
}

// scrubContent makes the event's content of what the Message kept, scrubbed like every other
// text. Content that holds no secret nor name is handed over in the blocks it was kept in,
// with no copy, held (see logview.Content) so that its charge returns once the outputs have
// written it. Otherwise the scrubbed copy is charged to the content budget instead of the
// blocks; when the budget cannot hold it, the content is left out and m says so.
func (r *recorder) scrubContent(kept audit.Kept, m *logview.MessageInfo) logview.Content {
	if len(kept.Parts) == 0 {
		return logview.Content{}
	}
	if !r.redact.MayChange(kept.Parts) {
		return logview.NewContent(kept.Parts, kept)
	}
	content := kept.String()
	s := r.redact.Scrub(content)
	if s == content {
		return logview.NewContent(kept.Parts, kept)
	}
	for i := range kept.Parts {
		kept.Drop(i)
	}
	if r.msg.Budget.Hold(s) {
		return logview.ContentOf(s)
	}
	m.ContentOmitted = true
	return logview.Content{}
}

// closeSummary emits the session's close event; reason says how the connection ended, and is
// dropped when the session ended by QUIT.
func (r *recorder) closeSummary(reason string, bytesUp, bytesDown int64) {
	if r.sink == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.quitOK.Load() {
		reason = ""
	}
	r.emit(logview.Event{Kind: logview.KindClose, Summary: &logview.Summary{
		Duration:  time.Since(r.start).Round(time.Millisecond).String(),
		Commands:  r.commands,
		BytesUp:   bytesUp,
		BytesDown: bytesDown,
		Retrieved: r.mailbox.Retrieved(),
		Deleted:   r.mailbox.Deleted(),
		QuitSent:  r.quitSent,
		Committed: r.mailbox.Committed(),
		Reason:    r.redact.Scrub(reason),
	}})
}

// learnUser records the identity a client authenticates as, hashed with HideUsers, and with
// HideUsers every name the line shows, for hiding. A name sent with a credential (PASS after
// USER, AUTH, APOP) is pinned: the names a client sends after it, USER lines by the dozen,
// cannot push it out of those the session hides.
func (r *recorder) learnUser(a *codec.Auth) {
	if r.opts.HideUsers {
		names := a.Names
		if a.User != "" {
			names = append(names[:len(names):len(names)], a.User)
		}
		for _, n := range names {
			r.redact.AddName(n)
			if a.Mech != "USER" {
				r.redact.PinName(n)
			}
		}
	}
	switch {
	case a.User == "":
	case r.opts.HideUsers:
		r.user = r.redact.AddName(a.User)
	default:
		r.user = a.User
	}
}

// remember keeps secrets for scrubbing every later text of the session, unless
// RevealCredentials shows them.
func (r *recorder) remember(secrets [][]byte) {
	if r.opts.RevealCredentials {
		return
	}
	for _, s := range secrets {
		r.redact.AddSecret(string(s))
	}
}

// serverText renders the text of a server status line (after its status and response code),
// scrubbed.
func (r *recorder) serverText(f *codec.Frame) string {
	s := f.Reply.Text
	if f.Truncated {
		s += "…"
	}
	return r.redact.Scrub(s)
}

// lineText returns the logged copy of f's line, with "…" when the codec cut it. A line that
// is its verb as the codec spells it ("NOOP", "STAT") is the codec's interned verb, so that
// logging it allocates nothing.
func lineText(f *codec.Frame) string {
	switch {
	case f.Truncated:
		return string(f.Line) + "…"
	case string(f.Line) == f.Cmd.Verb:
		return f.Cmd.Verb
	}
	return string(f.Line)
}

// msgNumber parses the message number that starts a RETR, TOP or DELE argument.
func msgNumber(arg string) (int, bool) {
	if i := strings.IndexByte(arg, ' '); i >= 0 {
		arg = arg[:i]
	}
	n, err := strconv.Atoi(arg)
	return n, err == nil && n > 0
}
