package codec

// serverLine handles one complete server status line (no body open): it pairs it with the
// oldest pending command and follows what the reply changes. Findings on the line itself
// (bare LF, lower case) come after the line's own frames, so that End never goes back.
func (t *Tracker) serverLine(l line, end int) {
	layer := t.layerSrv
	t.layerSrv = false
	r, err := ParseReply(l.b)
	if err != nil {
		t.notStatus(l.b, layer, end)
		t.stop(FromServer, end, t.junkNote(layer, "server"))
		return
	}
	if l.cr {
		t.crlf = true
	}
	sasl := t.sasl
	head, final := t.reply(l, r, end)
	t.checkStatusLine(l, r, end)
	if final {
		t.checkReply(head, sasl, r, l, end)
	}
}

// reply pairs a parsed status line with the oldest pending command. It returns that command
// and whether the line was its final reply.
func (t *Tracker) reply(l line, r Reply, end int) (pending, bool) {
	head, ok := t.fifo.front()
	if !ok {
		t.emit(withLine(Frame{Kind: FrameUnsolicited, Dir: FromServer, Reply: r, End: end}, l))
		return head, false
	}
	if r.Status == StatusContinue {
		t.continuation(l, r, head, end)
		return head, false
	}
	t.fifo.pop()
	if head.body == bodyNone || r.Status == StatusErr {
		t.replied++
	}
	f := withLine(Frame{Kind: FrameReply, Dir: FromServer, Cmd: head.cmd, Reply: r, End: end}, l)
	if head.greeting {
		f.Kind = FrameGreeting
		t.emit(f)
		return head, true
	}
	if r.Status == StatusErr {
		if head.verb == "STLS" {
			t.stls = STLSNone
		}
		t.emit(f)
		t.finishSASL(head, end)
		return head, true
	}
	cut := false // +OK ended an AUTH whose mechanism could not have finished
	switch head.verb {
	case "STLS":
		f.Kind = FrameTLS
		t.emit(f)
		t.startTLS(end)
		return head, true
	case "PASS", "APOP":
		t.state = Transaction
	case "AUTH":
		if head.authMech {
			t.state = Transaction
			t.layerCli = hasSecurityLayer(t.sasl.mech)
			t.layerSrv = t.layerCli
			cut = t.sasl.answers < minAnswers(t.sasl.mech)
			t.saslCut = t.saslCut || cut
		}
	case "QUIT":
		if t.state == Transaction {
			t.state = Update
		}
	}
	if head.body != bodyNone {
		f.Multi = true
		t.body = bodyState{open: true, kind: head.body, cmd: head.cmd}
	}
	t.emit(f)
	if cut {
		t.emit(Frame{Kind: FrameAnomaly, Dir: FromServer, End: end, Note: noteSASLCut})
	}
	t.finishSASL(head, end)
	return head, true
}

// continuation handles a server line that asks the client for more SASL data, a "+"
// continuation (RFC 5034 §4). A held client line answers it.
func (t *Tracker) continuation(l line, r Reply, head pending, end int) {
	if !head.authMech || !t.sasl.open {
		t.emit(withLine(Frame{Kind: FrameAnomaly, Dir: FromServer, Reply: r, End: end, Note: noteNoAuth}, l))
		return
	}
	if len(t.held) > 0 {
		h := t.held[0]
		t.held = append(t.held[:0], t.held[1:]...)
		a := t.sasl.clientLine(h.b, h.truncated)
		t.emit(Frame{Kind: FrameSASL, Dir: FromClient, Line: h.b, Full: h.full, Truncated: h.truncated,
			Auth: a, End: l.start})
	} else {
		t.sasl.challenge = true
	}
	t.emit(withLine(Frame{Kind: FrameChallenge, Dir: FromServer, Cmd: head.cmd, Reply: r, End: end}, l))
}

// finishSASL closes the exchange answered by head's final reply and classifies the lines held
// meanwhile as if the client sent them now. The lines held after an STLS were sent after it
// before its reply: like such bytes sent later, they are reported and never framed (RFC 2595
// §4).
func (t *Tracker) finishSASL(head pending, end int) {
	if !head.authMech {
		return
	}
	t.sasl = saslSession{}
	held := t.held
	t.held = nil
	for _, h := range held {
		if t.stls == STLSSent {
			t.finding(RuleSTLSPipelined, FromClient, end, noteSTLSInjection, line{})
			t.tlsNoted = true
			return
		}
		if t.stopped {
			return
		}
		t.clientLine(line{b: h.b, full: h.full, truncated: h.truncated, cr: h.cr}, end)
	}
}

// startTLS restarts framing after +OK to STLS (RFC 2595 §4): both line buffers are dropped,
// and the queue must be empty since STLS may not be pipelined.
func (t *Tracker) startTLS(end int) {
	t.stls, t.tlsNoted = STLSStarted, false
	t.cli.reset()
	t.srv.reset()
	t.conf.tlsStarted()
	if t.fifo.len() != 0 {
		t.stop(FromServer, end, noteFIFOAfterTLS)
	}
}

// statusPrefixOK reports whether b, the start of an unfinished server line outside a body, can
// still become a status line: "+OK", "-ERR" (any case) or "+" followed by a blank, or the line
// end. A CR may end the prefix.
func statusPrefixOK(b []byte) bool {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) == 0 {
		return true
	}
	if b[0] == '+' && (len(b) == 1 || b[1] == ' ') {
		return true
	}
	return wordPrefixOK(b, "+OK") || wordPrefixOK(b, "-ERR")
}

// wordPrefixOK reports whether b is a prefix of word or starts with word and a blank.
func wordPrefixOK(b []byte, word string) bool {
	n := min(len(b), len(word))
	for i := 0; i < n; i++ {
		if upper(b[i]) != word[i] {
			return false
		}
	}
	return len(b) <= len(word) || isBlank(b[len(word)])
}
