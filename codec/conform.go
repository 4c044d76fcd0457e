package codec

import (
	"bytes"
	"hash/maphash"
	"strconv"
	"strings"
)

// Rule is a conformance rule of the POP3 standards. A finding is a FrameAnomaly whose Rule is
// set: it says which side broke the rule (Dir) and how (Note, and Line for a server line). The
// zero value is no rule.
type Rule uint8

// The rules a Tracker checks. Each is reported at most once per session and side, on its
// first breach. Rule.Requirement says what each requires and how far popwire checks it.
const (
	RuleCommandLength     Rule = iota + 1 // a command line over 255 octets
	RuleReplyLength                       // a reply's first line, or a CAPA line, over 512 octets
	RuleBareLF                            // a line ended by LF alone
	RuleBareCR                            // a CR that is not part of a line's CRLF
	RuleNUL                               // a NUL in a command or reply line
	RuleStatusIndicator                   // a reply's first line without the "+OK" / "-ERR" form
	RuleSizeMismatch                      // a LIST or "+OK N octets" size that RETR does not deliver
	RuleUIDChars                          // a UID holding a character outside 0x21–0x7E
	RuleUIDLength                         // a UID empty or longer than 70 characters
	RuleUIDDuplicate                      // one UID for two messages
	RuleCAPAAfterSTLS                     // no CAPA after STLS from a client that used CAPA
	RuleAfterQuit                         // a command sent after QUIT
	RuleAuthRespCode                      // a login refused without a response code, AUTH-RESP-CODE listed
	RuleSTLSPipelined                     // client bytes after STLS before its reply
	RuleSTLSReplyFollowed                 // server bytes after +OK to STLS before the client spoke
)

// ruleInfo is what a finding of one rule says about the rule.
type ruleInfo struct{ name, rfc, requirement string }

var rules = [...]ruleInfo{
	RuleCommandLength: {"command-length", "RFC 2449 §4",
		"A command line is at most 255 octets, CRLF included (an AUTH line with an initial response too, RFC 5034 §4); " +
			"SASL response lines have no limit."},
	RuleReplyLength: {"reply-length", "RFC 1939 §3, RFC 2449 §4",
		"The first line of a reply, the greeting included, is at most 512 octets, CRLF included, and so is each line " +
			"of a CAPA reply (RFC 2449 §5); SASL continuations and the other lines of multi-line replies have no limit."},
	RuleBareLF: {"bare-lf", "RFC 1939 §3",
		"Every line ends in CRLF: commands, status lines and every line of a multi-line reply, message content included."},
	RuleBareCR: {"bare-cr", "RFC 1939 §3",
		"A CR appears only as the first octet of a line's CRLF; checked in commands, status lines and the lines of " +
			"multi-line replies, not in message content (RETR, TOP)."},
	RuleNUL: {"nul", "RFC 1939 §3, RFC 2449 §3",
		"Commands and replies are text and hold no NUL; checked like bare-cr, message content excepted."},
	RuleStatusIndicator: {"status-indicator", "RFC 1939 §3, RFC 2449 §3",
		`The first line of every reply, single- or multi-line, starts with the status indicator "+OK" or "-ERR" ` +
			"in upper case, followed by SP or the end of the line."},
	RuleSizeMismatch: {"size-mismatch", "RFC 1939 §5, §11",
		`The size LIST gives a message, and the N of "+OK N octets" to its RETR, count the message with CRLF line ends ` +
			"and without dot-stuffing. popwire counts what RETR delivered the same way (stuffing dots removed, every line " +
			"end as two octets, the terminating line excluded) and also accepts 2 octets more: the CRLF a server adds to " +
			"a message that lacks a final line end, as Dovecot does. Sizes are kept for messages 1 to 4096."},
	RuleUIDChars: {"uid-chars", "RFC 1939 §7",
		"A unique-id consists of characters 0x21 to 0x7E (the separator before it may be more than one SP)."},
	RuleUIDLength: {"uid-length", "RFC 1939 §7",
		"A unique-id is 1 to 70 characters long."},
	RuleUIDDuplicate: {"uid-duplicate", "RFC 1939 §7",
		"No two messages of a maildrop have the same unique-id; checked within one UIDL listing, on its first 4096 lines."},
	RuleCAPAAfterSTLS: {"capa-after-stls", "RFC 2595 §4, RFC 2449 §5",
		"Once TLS has started, the client discards the capabilities it learnt and re-issues CAPA; checked for a client " +
			"whose CAPA succeeded before STLS, on its first command after the upgrade (QUIT excepted)."},
	RuleAfterQuit: {"after-quit", "RFC 1939 §4, §6",
		"QUIT ends the session: the server answers it and closes the connection, so a command sent after QUIT is never " +
			"answered (one sent after a QUIT was refused, as popwire's --deny can, breaks no rule)."},
	RuleAuthRespCode: {"auth-resp-code", "RFC 3206 §6, RFC 2449 §8",
		"A server whose CAPA lists AUTH-RESP-CODE gives a response code with an -ERR that refuses credentials ([AUTH] " +
			"for the credentials themselves); checked on -ERR to PASS after an accepted USER, to APOP, and to an AUTH " +
			"the client sent data for and did not cancel."},
	RuleSTLSPipelined: {"stls-pipelined", "RFC 2595 §4",
		"After STLS the client sends nothing until it has seen the reply and the TLS negotiation is complete."},
	RuleSTLSReplyFollowed: {"stls-reply-followed", "RFC 2595 §4",
		"The TLS negotiation starts right after the CRLF of the +OK to STLS: the server sends nothing else in clear text."},
}

func (r Rule) info() ruleInfo {
	if int(r) < len(rules) {
		return rules[r]
	}
	return ruleInfo{}
}

// String returns the rule's name, a short lower-case word ("bare-lf"), or "" for no rule.
func (r Rule) String() string { return r.info().name }

// RFC returns the sections of the standards that state the rule ("RFC 1939 §7").
func (r Rule) RFC() string { return r.info().rfc }

// Requirement returns what the rule requires, in a sentence or two, and how far popwire
// checks it.
func (r Rule) Requirement() string { return r.info().requirement }

// The limits of RFC 2449 §4, in octets with the line ending.
const (
	maxCommandLine = 255
	maxReplyLine   = 512
)

// The bounds of what the checks that span lines keep.
const (
	maxSized   = 4096 // messages whose LIST size is kept, by number (1 to maxSized): 16 KiB at most
	maxUIDs    = 4096 // lines of one UIDL listing checked for duplicates: about 150 KiB at most, while it lasts
	maxUIDLen  = 70   // RFC 1939 §7
	uidMapCost = 40   // bytes a kept UID hash costs in a map, roughly, for footprint
)

// conformance is what a Tracker keeps for the rules that span lines. It holds at most maxSized
// sizes, and while a UIDL listing is open the hashes of at most maxUIDs UIDs.
type conformance struct {
	reported [3]uint32         // per Direction: bit r is set once Rule r was reported
	sizes    []uint32          // by message number - 1: 1 + the size LIST gave, 0 when unknown or 4 GiB or more
	octets   int64             // 1 + the N of "+OK N octets" to the RETR whose body is open, 0 when none
	uids     map[uint64]uint32 // hash of a UID → the message it names, in the UIDL listing open
	seed     maphash.Seed
	capaOK   bool // a CAPA succeeded since framing last restarted
	capaDue  bool // TLS started after a successful CAPA: the client's next command should be CAPA
	authCode bool // the last CAPA listed AUTH-RESP-CODE
	userOK   bool // the last USER was accepted: a PASS may follow it
	quitErr  bool // a QUIT was refused (popwire's --deny can): the session goes on
}

// footprint returns the bytes the checks hold on to, roughly.
func (c *conformance) footprint() int { return cap(c.sizes)*4 + len(c.uids)*uidMapCost }

// reported reports whether dir was found breaking r before in this session.
func (t *Tracker) reported(r Rule, dir Direction) bool {
	return t.conf.reported[dir]&(1<<r) != 0
}

// finding reports that dir broke r, unless it did before in this session or framing has
// stopped. note says how in the codec's words, never quoting a client's bytes (they may be
// secret); ev, when it holds a line, is the server line that shows it.
func (t *Tracker) finding(r Rule, dir Direction, end int, note string, ev line) {
	if t.stopped || t.reported(r, dir) {
		return
	}
	t.conf.reported[dir] |= 1 << r
	f := Frame{Kind: FrameAnomaly, Dir: dir, Rule: r, End: end, Note: note}
	if ev.b != nil {
		f = withLine(f, ev)
	}
	t.emit(f)
}

// eolLen returns the length of l's line ending.
func eolLen(l line) int {
	if l.cr {
		return 2
	}
	return 1
}

// checkClientLine checks the bytes of a complete client line, whatever the line turned out to
// be; the frame the line gave is the last one emitted.
func (t *Tracker) checkClientLine(l line, end int) {
	if l.cr && !l.bad() {
		return
	}
	what := "a client line"
	if n := len(t.frames); n > 0 {
		switch f := &t.frames[n-1]; {
		case f.Kind == FrameCommand && f.Cmd.Verb != "":
			what = "the " + f.Cmd.Verb + " command line"
		case f.Kind == FrameSASL:
			what = "a SASL response line"
		}
	}
	t.lineBytes(FromClient, l, end, what, line{})
}

// lineBytes reports a line of dir that does not end in CRLF or holds a NUL or a bare CR
// (RFC 1939 §3); what names the line, ev is the evidence to show.
func (t *Tracker) lineBytes(dir Direction, l line, end int, what string, ev line) {
	if !l.cr {
		t.finding(RuleBareLF, dir, end, what+" ends in a bare LF, not CRLF", ev)
	}
	if l.bareCR {
		t.finding(RuleBareCR, dir, end, what+" holds a CR that does not end it", ev)
	}
	if l.nul {
		t.finding(RuleNUL, dir, end, what+" holds a NUL", ev)
	}
}

// checkCommand checks a client command line once it is framed: c is the command as parsed,
// shown as the frame shows it.
func (t *Tracker) checkCommand(c, shown Command, l line, end int) {
	what := "a client line"
	if shown.Verb != "" {
		what = "the " + shown.Verb + " command"
	}
	if n := l.full + eolLen(l); n > maxCommandLine {
		t.finding(RuleCommandLength, FromClient, end,
			what+" line is "+strconv.Itoa(n)+" octets with its line ending, over 255", line{})
	}
	if t.quit && !t.conf.quitErr {
		t.finding(RuleAfterQuit, FromClient, end, what+" was sent after QUIT", line{})
	}
	if t.conf.capaDue {
		t.conf.capaDue = false
		if c.Verb != "CAPA" && c.Verb != "QUIT" {
			t.finding(RuleCAPAAfterSTLS, FromClient, end,
				"after STLS the client sent "+what+" without re-issuing CAPA, which it had used before", line{})
		}
	}
}

// checkStatusLine checks a server status line once its frames are out.
func (t *Tracker) checkStatusLine(l line, r Reply, end int) {
	if r.Status != StatusContinue {
		n := len(r.Status.String())
		switch {
		case isLowerStatus(l.b):
			t.finding(RuleStatusIndicator, FromServer, end, "the status is not in upper case", l)
		case len(l.b) > n && l.b[n] == '\t':
			t.finding(RuleStatusIndicator, FromServer, end, "a TAB, not SP, follows the status", l)
		}
		if n := l.full + eolLen(l); n > maxReplyLine {
			t.finding(RuleReplyLength, FromServer, end,
				"the status line is "+strconv.Itoa(n)+" octets with its line ending, over 512", l)
		}
	}
	t.lineBytes(FromServer, l, end, "the status line", l)
}

// notStatus reports a server line of text that had to start a reply and is no status line:
// b is the line, or the start of it that made framing stop. Binary data (a TLS record, a
// security layer) breaks no POP3 rule: it is no POP3 at all, which the stop says.
func (t *Tracker) notStatus(b []byte, layer bool, end int) {
	head, ok := t.fifo.front()
	if layer || !ok || len(b) > 0 && (b[0] < 0x20 || b[0] > 0x7e) {
		return
	}
	what := "the greeting"
	switch {
	case head.greeting:
	case head.cmd.Verb != "":
		what = "the reply to " + head.cmd.Verb
	default:
		what = "the reply to a client line"
	}
	b = notStatusStart(b)
	t.finding(RuleStatusIndicator, FromServer, end, what+" does not start with +OK or -ERR", line{b: b, full: len(b)})
}

// notStatusStart returns the start of b up to where it stopped being a possible status line
// (statusPrefixOK), or all of b: framing stops there when the line arrives in pieces, so the
// evidence of notStatus must not depend on how it arrived. A CR that ends the start is
// dropped, for in a piece it may be the line ending's.
func notStatusStart(b []byte) []byte {
	for k := 1; k <= len(b); k++ {
		if !statusPrefixOK(b[:k]) {
			if b[k-1] == '\r' {
				k--
			}
			return b[:k]
		}
	}
	return b
}

// checkReply follows a final reply to head (its status line is l, parsed as r) for the rules
// that span lines; sasl is the AUTH exchange as it stood before the reply.
func (t *Tracker) checkReply(head pending, sasl saslSession, r Reply, l line, end int) {
	ok := r.Status == StatusOK
	c := &t.conf
	refused := r.Status == StatusErr && r.Code == "" && c.authCode
	switch head.verb {
	case "USER":
		c.userOK = ok
		return
	case "QUIT":
		c.quitErr = c.quitErr || r.Status == StatusErr
		return
	case "PASS":
		refused = refused && c.userOK
		c.userOK = false
	case "APOP":
	case "AUTH":
		refused = refused && head.authMech && sasl.answers > 0 && !sasl.cancelled
	default:
		refused = false
	}
	if refused {
		t.finding(RuleAuthRespCode, FromServer, end,
			"CAPA listed AUTH-RESP-CODE, yet the -ERR refusing "+head.verb+" has no response code", l)
	}
	if !ok {
		return
	}
	multi := head.body != bodyNone
	switch {
	case head.verb == "CAPA":
		c.capaOK = true
		c.authCode = false
	case head.verb == "RETR":
		c.octets = 0
		if n, rest, ok := leadingNumber(r.Text); ok && isOctets(rest) {
			c.octets = n + 1
		}
	case head.verb == "LIST" && !multi:
		learnSize(t, r.Text)
	case head.verb == "UIDL" && !multi:
		if n := len(r.Status.String()) + 1; len(l.b) > n {
			t.checkUID(line{b: l.b[n:], full: l.full - n, truncated: l.truncated}, false, end, l)
		}
	case head.verb == "UIDL":
		c.uids = nil
	}
}

// checkListLine checks one line of a multi-line reply other than RETR/TOP content, unstuffed,
// answering verb.
func (t *Tracker) checkListLine(verb string, l line, end int) {
	if !l.cr || l.bad() {
		t.lineBytes(FromServer, l, end, "a line of the "+verb+" reply", l)
	}
	switch verb {
	case "CAPA":
		if n := l.full + eolLen(l); n > maxReplyLine {
			t.finding(RuleReplyLength, FromServer, end, "a CAPA line is "+strconv.Itoa(n)+" octets with its line ending, over 512", l)
		}
		if tag, _ := splitKeyword(l.b); bytes.EqualFold(tag, []byte("AUTH-RESP-CODE")) {
			t.conf.authCode = true
		}
	case "LIST":
		learnSize(t, l.b)
	case "UIDL":
		t.checkUID(l, true, end, l)
	}
}

// learnSize keeps the size of a scan listing "msg size …" in b (RFC 1939 §5) by message
// number, until a size mismatch was reported.
func learnSize[T string | []byte](t *Tracker, b T) {
	if t.reported(RuleSizeMismatch, FromServer) {
		return
	}
	msg, rest, ok := leadingNumber(b)
	if !ok || msg < 1 || msg > maxSized || len(rest) == 0 || !isBlank(rest[0]) {
		return
	}
	size, _, ok := leadingNumber(trimLeft(rest))
	if !ok || size >= 1<<32-1 {
		return
	}
	c := &t.conf
	if int(msg) > cap(c.sizes) {
		grown := make([]uint32, len(c.sizes), min(max(int(msg), 2*cap(c.sizes)), maxSized))
		copy(grown, c.sizes)
		c.sizes = grown
	}
	if int(msg) > len(c.sizes) {
		c.sizes = c.sizes[:msg]
	}
	c.sizes[msg-1] = uint32(size + 1)
}

// checkUID checks the unique-id listing "msg uid" in l (RFC 1939 §7): its UID's characters
// and length, and in a listing (a line of a multi-line UIDL reply) whether an earlier line
// gave the same UID. ev is the line to show.
func (t *Tracker) checkUID(l line, listing bool, end int, ev line) {
	msg, rest, ok := leadingNumber(l.b)
	if !ok || len(rest) > 0 && !isBlank(rest[0]) {
		return
	}
	uid := trimLeft(rest)
	n := len(uid) + l.full - len(l.b) // the UID's full length: the line may be cut
	what := func() string { return "the UID of message " + strconv.FormatInt(msg, 10) }
	switch {
	case n < 1:
		t.finding(RuleUIDLength, FromServer, end, what()+" is empty", ev)
	case n > maxUIDLen:
		t.finding(RuleUIDLength, FromServer, end, what()+" is "+strconv.Itoa(n)+" characters long", ev)
	}
	for _, c := range uid {
		if c < 0x21 || c > 0x7e {
			t.finding(RuleUIDChars, FromServer, end, what()+" holds a character outside 0x21–0x7E", ev)
			break
		}
	}
	c := &t.conf
	if !listing || n < 1 || l.truncated || t.reported(RuleUIDDuplicate, FromServer) {
		return
	}
	if c.uids == nil {
		if c.seed == (maphash.Seed{}) {
			c.seed = maphash.MakeSeed()
		}
		c.uids = make(map[uint64]uint32)
	}
	h := maphash.Bytes(c.seed, uid)
	if first, dup := c.uids[h]; dup {
		t.finding(RuleUIDDuplicate, FromServer, end,
			what()+" is the UID of message "+strconv.FormatUint(uint64(first), 10)+" too", ev)
		c.uids = nil
		return
	}
	if len(c.uids) < maxUIDs {
		c.uids[h] = uint32(min(msg, 1<<32-1))
	}
}

// bodyEnded follows the end of a multi-line reply b for the rules that span lines: a RETR's
// delivered octets against the sizes the server gave.
func (t *Tracker) bodyEnded(b bodyState, end int) {
	c := &t.conf
	switch b.cmd.Verb {
	case "UIDL":
		c.uids = nil
		return
	case "RETR":
	default:
		return
	}
	said := c.octets
	c.octets = 0
	if t.reported(RuleSizeMismatch, FromServer) {
		return
	}
	got := b.octets - b.stuffed + b.bareLF
	var wrong string
	if said > 0 && !sizeAgrees(said-1, got) {
		wrong = "+OK said " + strconv.FormatInt(said-1, 10)
	}
	msg, _, ok := leadingNumber(b.cmd.Arg)
	if ok && msg >= 1 && msg <= int64(len(c.sizes)) && c.sizes[msg-1] > 0 {
		if listed := int64(c.sizes[msg-1]) - 1; !sizeAgrees(listed, got) {
			if wrong != "" {
				wrong += ", "
			}
			wrong += "LIST said " + strconv.FormatInt(listed, 10)
		}
	}
	if wrong == "" {
		return
	}
	what := "the RETR"
	if ok {
		what = "RETR " + strconv.FormatInt(msg, 10)
	}
	t.finding(RuleSizeMismatch, FromServer, end, what+" delivered "+strconv.FormatInt(got, 10)+
		" octets (line ends counted as CRLF, dot-stuffing removed); "+wrong, line{})
	c.sizes = nil
}

// sizeAgrees reports whether a message of said octets can have been delivered as got: the
// same, or with the CRLF a server adds to a message without a final line end.
func sizeAgrees(said, got int64) bool { return got == said || got == said+2 }

// tlsStarted forgets the capabilities learnt before TLS (RFC 2595 §4) and expects a client
// that used them to ask again.
func (c *conformance) tlsStarted() {
	c.capaDue, c.capaOK = c.capaOK, false
	c.authCode, c.userOK = false, false
}

// leadingNumber parses the decimal number that starts b (at most 18 digits) and returns it and
// the rest of b.
func leadingNumber[T string | []byte](b T) (int64, T, bool) {
	var n int64
	i := 0
	for i < len(b) && i < 18 && '0' <= b[i] && b[i] <= '9' {
		n = n*10 + int64(b[i]-'0')
		i++
	}
	if i == 0 || i < len(b) && '0' <= b[i] && b[i] <= '9' {
		return 0, b, false
	}
	return n, b[i:], true
}

// trimLeft drops the blanks that start b.
func trimLeft[T string | []byte](b T) T {
	i := 0
	for i < len(b) && isBlank(b[i]) {
		i++
	}
	return b[i:]
}

// isOctets reports whether s, the text after the number of a +OK to RETR, says "octets"
// (RFC 1939 §7: "+OK 120 octets").
func isOctets(s string) bool {
	if s == "" || !isBlank(s[0]) {
		return false
	}
	w, _, _ := strings.Cut(trimLeft(s), " ")
	return strings.EqualFold(w, "octets")
}
