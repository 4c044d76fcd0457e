package codec

import "bytes"

// clientLine classifies one complete client line: SASL data when a challenge awaits an
// answer, held while AUTH awaits the server, a command otherwise. During an AUTH exchange a
// line with a NUL or a bare CR stops framing: it is no SASL data (RFC 5034 §4: base64), and a
// server that splits lines at a CR could run what follows it as a command.
func (t *Tracker) clientLine(l line, end int) {
	if t.stls == STLSStarted {
		t.stls = STLSNone
	}
	if !t.sasl.open {
		t.command(l, end)
		return
	}
	if l.bad() {
		t.stop(FromClient, end, noteSASLBadByte)
		return
	}
	if t.sasl.challenge {
		a := t.sasl.clientLine(l.b, l.truncated)
		t.emit(withLine(Frame{Kind: FrameSASL, Dir: FromClient, Auth: a, End: end}, l))
		return
	}
	if len(t.held) >= MaxHeld {
		t.stop(FromClient, end, noteHeld)
		return
	}
	t.held = append(t.held, heldLine{b: bytes.Clone(l.b), full: l.full, truncated: l.truncated, cr: l.cr})
	t.emit(withLine(Frame{Kind: FrameHeld, Dir: FromClient, Auth: heldAuth(l.b, t.sasl.mech), End: end}, l))
}

// command handles a client line outside SASL: it parses it, works out what it reveals, queues
// it and emits its FrameCommand. A line that is not a command line (see ParseCommand) is
// queued all the same, without a verb: the server answers it too.
func (t *Tracker) command(l line, end int) {
	layer := t.layerCli
	t.layerCli = false
	c, why := parseCommand(l.b)
	if why == "" && l.bad() {
		c, why = Command{}, whyBadByte // beyond the logged copy
	}
	if why != "" && junkKeyword(l.b) || layer && !isLetters(c.Verb) {
		t.stop(FromClient, end, t.junkNote(layer, "client"))
		return
	}
	var a *Auth
	switch c.Verb {
	case "USER":
		a = userAuth(c)
		t.user = c.Arg
	case "PASS":
		a = passAuth(l.b, t.user)
	case "APOP":
		a = apopAuth(l.b, l.truncated)
	case "AUTH":
		if c.HasArg() {
			a = t.sasl.authLine(c, l.b, l.truncated)
		}
	default:
		if (t.state == Authorization || t.saslCut) && !isKnownVerb(c.Verb) {
			a = unknownAuth(l.b)
		}
	}
	if t.fifo.len() >= MaxPending {
		t.stop(FromClient, end, notePipeline)
		return
	}
	shown := safeCommand(c, a)
	t.fifo.push(pending{
		cmd:       shown,
		verb:      c.Verb,
		body:      bodyFor(c),
		authMech:  c.Verb == "AUTH" && c.HasArg(),
		afterQuit: t.quit,
	})
	f := withLine(Frame{Kind: FrameCommand, Dir: FromClient, Cmd: shown, Keyword: c.Verb, Seq: t.queued, Auth: a, End: end, Note: why}, l)
	t.queued++
	t.emit(f)
	t.checkCommand(c, shown, l, end)
	switch c.Verb {
	case "QUIT":
		t.quit = true
	case "STLS":
		t.stls, t.tlsNoted = STLSSent, false
	}
}

// PartialLine tells a caller that must pass a long client line on before its end arrives what
// the tracker can say of it so far. sasl reports that the line answers a challenge (SASL
// data). Otherwise keyword is what ParseCommand reads at its start (in upper case; more bytes
// may lengthen it) and why, when not "", says why the line cannot be a command line. With no
// client line in progress, or once framing has stopped, it returns zero values.
func (t *Tracker) PartialLine() (keyword, why string, sasl bool) {
	if t.stopped || !t.cli.active {
		return "", "", false
	}
	if t.sasl.challenge {
		return "", "", true
	}
	b := t.cli.prefix(t.limit())
	if n := len(b); n > 0 && b[n-1] == '\r' && t.cli.cr && len(b) == t.cli.n {
		b = b[:n-1] // maybe the CR of the line ending
	}
	c, why := parseCommand(b)
	if why == "" && t.cli.bad() {
		return "", whyBadByte, false
	}
	return c.Verb, why, false
}

// junkKeyword reports whether the keyword of a complete line (up to its first blank) holds a
// control or 8-bit byte: binary data, not a command.
func junkKeyword(b []byte) bool {
	kw, _ := splitKeyword(b)
	for _, c := range kw {
		if c < 0x21 || c > 0x7e {
			return true
		}
	}
	return false
}

// isLetters reports whether v is a 3–4 letter keyword, the shape every POP3 command has
// (RFC 1939 §3); after a security layer anything else means the stream is no longer text.
func isLetters(v string) bool {
	if len(v) < 3 || len(v) > 4 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := upper(v[i]); c < 'A' || c > 'Z' {
			if !(c == '8' && v == "UTF8") {
				return false
			}
		}
	}
	return true
}

// keywordPrefixOK checks the start of an unfinished client command line: its keyword must be
// printable ASCII (a CR may end the prefix), and after a security layer 1–4 letters.
func (t *Tracker) keywordPrefixOK(b []byte) bool {
	kw, rest := splitKeyword(b)
	if n := len(kw); rest == nil && n > 0 && kw[n-1] == '\r' {
		kw = kw[:n-1]
	}
	if junkKeyword(kw) {
		return false
	}
	if !t.layerCli {
		return true
	}
	if len(kw) > 4 {
		return false
	}
	for _, c := range kw {
		if c = upper(c); (c < 'A' || c > 'Z') && c != '8' {
			return false
		}
	}
	return true
}
