package proxy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/oauth"
)

// tokenTimeout bounds one Source.Token call, within the login timeout.
const tokenTimeout = 30 * time.Second

// The lines the bridge answers itself in AUTHORIZATION (RFC 1939 §7, RFC 5034 §4).
var (
	bridgeMechs       = []byte("+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n")
	bridgeUserOK      = []byte("+OK\r\n")
	bridgeNoUser      = []byte("-ERR Missing user name.\r\n")
	bridgeNoName      = []byte("-ERR No username given.\r\n")
	bridgeCancelled   = []byte("-ERR Authentication cancelled.\r\n")
	bridgeBadSASL     = []byte("-ERR [AUTH] popwire: the SASL answer is not valid base64 or not a PLAIN/LOGIN message.\r\n")
	bridgeAPOP        = []byte("-ERR [AUTH] popwire: APOP is not available here: log in with USER and PASS (popwire logs in upstream with OAuth).\r\n")
	bridgeMech        = []byte("-ERR [AUTH] popwire offers only AUTH PLAIN and AUTH LOGIN here (it logs in upstream with OAuth).\r\n")
	bridgeNotLoggedIn = []byte("-ERR Not logged in.\r\n")
	bridgeLoginPrompt = []byte("+ VXNlcm5hbWU6\r\n") // "Username:"
	bridgePassPrompt  = []byte("+ UGFzc3dvcmQ6\r\n") // "Password:"
	bridgeContinue    = []byte("+ \r\n")
)

// errBridgeEnded says the bridge ended the session (it has recorded why).
var errBridgeEnded = errors.New("proxy: oauth bridge ended the session")

// bridge runs the AUTHORIZATION state for the client when Config.OAuth is set: it answers
// USER, PASS, AUTH PLAIN and AUTH LOGIN itself, gets the account's access token from the
// Source and logs in upstream with the token's mechanism (or Config.OAuthMechanism),
// relaying the upstream's answer as the answer to the client's PASS or AUTH. CAPA and QUIT go upstream (the CAPA reply
// rewritten, capaRewrite), STLS and the policies are answered as decide says, APOP, other
// mechanisms and other commands get -ERR. It reads one client line at a time from lr, which
// pumpUp goes on with, so that lines the client pipelined are not lost. It reports whether
// the pumps are to run: after the login, after the client's QUIT went upstream, or when the
// client's stream ended (pumpUp then reads the same end). pumpDown is not running yet: the
// bridge alone reads the upstream leg.
func (s *session) bridge(lr *lineReader) bool {
	up := newLineReader(s.upConn, maxClientLine)
	s.upConn.SetReadDeadline(s.start.Add(s.loginTimeout()))
	if !s.bridgeLoop(lr, up) {
		return false
	}
	s.upConn.SetReadDeadline(time.Time{})
	if rest := up.buf[up.head:up.tail]; len(rest) > 0 {
		// Bytes the server sent after its answer are the pumps' to relay.
		if err := s.serverBytes(rest); err != nil {
			s.finish("client write failed")
			return false
		}
	}
	return true
}

// bridgeLoop reads and answers client lines until the pumps are to take over (true) or the
// session ends (false).
func (s *session) bridgeLoop(lr, up *lineReader) bool {
	first := true
	for {
		line, complete, err := lr.next()
		if err != nil {
			return true
		}
		if !complete {
			if lr.err != nil {
				s.rec.anomaly(logview.LegClient, fmt.Sprintf("discarded %d bytes of an unterminated last line", len(line)))
				continue
			}
			s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegClient,
				Err: fmt.Sprintf("proxy: client line over %d bytes before login: session closed", maxClientLine)})
			s.finish("client line too long")
			return false
		}
		s.touch()
		if first && s.spokeTLS(line) {
			return false
		}
		first = false
		next, err := s.bridgeLine(lr, up, line)
		switch {
		case errors.Is(err, errBridgeEnded):
			return false
		case err != nil:
			s.bridgeFailed(err)
			return false
		case next:
			return true
		}
		if s.stlsWaiting() && !s.upgradeClient(lr) {
			return false
		}
	}
}

// bridgeFailed ends the session on a failed read or write of a leg during the bridge.
func (s *session) bridgeFailed(err error) {
	if !s.closing() {
		s.rec.event(logview.Event{Kind: logview.KindError, Err: oneLine("proxy: oauth bridge: "+err.Error(), 300)})
	}
	s.finish("oauth bridge failed")
}

// bridgeLine handles one client line before login; next reports that the pumps take over.
func (s *session) bridgeLine(lr, up *lineReader, line []byte) (next bool, err error) {
	s.mu.Lock()
	f, ok := s.bridgeFrame(line)
	if !ok {
		s.mu.Unlock()
		return false, errBridgeEnded
	}
	if a, local := s.decide(f); local {
		s.rec.frame(f, logview.LegLocal)
		s.localq = append(s.localq, a)
		err := cmp.Or(s.deliverLocal(), s.sendClient())
		s.mu.Unlock()
		return false, err
	}
	verb := f.Keyword
	switch verb {
	case "CAPA", "QUIT":
		s.rec.frame(f, logview.LegClient)
		s.upMu.Lock()
		s.mu.Unlock()
		err := s.writeUpstream(line)
		s.upMu.Unlock()
		if err != nil || verb == "QUIT" {
			return verb == "QUIT", err // the pumps relay the answer to QUIT and the end
		}
		return false, s.relayReply(up)
	case "USER":
		s.rec.frame(f, logview.LegLocal)
		reply := bridgeUserOK
		if f.Cmd.Arg == "" {
			reply = bridgeNoUser
		}
		err := s.localReply(reply)
		s.mu.Unlock()
		return false, err
	case "PASS":
		s.rec.frame(f, logview.LegLocal)
		user := ""
		if f.Auth != nil {
			user = f.Auth.User
		}
		s.mu.Unlock()
		if user == "" {
			return false, s.lockedReply(bridgeNoName)
		}
		_, pass, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), " ")
		return s.oauthLogin(up, user, pass)
	case "AUTH":
		s.rec.frame(f, logview.LegLocal)
		s.mu.Unlock()
		// f.Cmd hides an initial response: the argument comes from the line itself.
		c, _ := codec.ParseCommand(bytes.TrimRight(line, "\r\n"))
		return s.bridgeAuth(lr, up, c.Arg)
	case "APOP":
		s.rec.frame(f, logview.LegLocal)
		err := s.localReply(bridgeAPOP)
		s.mu.Unlock()
		return false, err
	}
	s.rec.frame(f, logview.LegLocal)
	err = s.localReply(bridgeNotLoggedIn)
	s.mu.Unlock()
	return false, err
}

// bridgeFrame feeds one client line to the tracker and returns its command or SASL frame,
// recording the other frames; ok is false when framing stopped, which ends the session (the
// bridge is a policy: it fails closed). s.mu is held.
func (s *session) bridgeFrame(line []byte) (f *codec.Frame, ok bool) {
	frames := s.t.Client(line)
	for i := range frames {
		fr := &frames[i]
		switch fr.Kind {
		case codec.FrameCommand, codec.FrameSASL:
			f = fr
			continue
		case codec.FrameStopped:
			s.rec.frame(fr, logview.LegClient)
			s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegClient, Err: "proxy: oauth bridge: the client's line cannot be framed: session closed"})
			s.finish("framing lost")
			return nil, false
		}
		s.rec.frame(fr, logview.LegClient)
	}
	if f == nil {
		s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegClient, Err: "proxy: oauth bridge: the client's line is no command popwire can answer: session closed"})
		s.finish("framing lost")
		return nil, false
	}
	return f, true
}

// localReply writes a reply of popwire's own to the client and shows it to the tracker as the
// answer to the oldest command. s.mu is held.
func (s *session) localReply(reply []byte) error {
	return s.relay(reply, logview.LegLocal)
}

// lockedReply is localReply taking s.mu.
func (s *session) lockedReply(reply []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.localReply(reply)
}

// relay writes reply, from leg, to the client at once (sendClient) and feeds it to the
// tracker, recording what it frames. s.mu is held.
func (s *session) relay(reply []byte, leg logview.Leg) error {
	if err := cmp.Or(s.writeClient(reply), s.sendClient()); err != nil {
		return err
	}
	frames := s.t.Server(reply)
	for i := range frames {
		s.rec.frame(&frames[i], leg)
	}
	s.noteLogin()
	return nil
}

// relayReply relays the upstream's reply to the command just forwarded (CAPA), through
// serverBytes like every server byte, until the tracker has it whole.
func (s *session) relayReply(up *lineReader) error {
	for {
		line, _, err := up.next()
		if len(line) > 0 {
			s.touch()
			if err := s.serverBytes(line); err != nil {
				return err
			}
		}
		if err != nil {
			return s.upstreamLost(err)
		}
		s.mu.Lock()
		done := s.t.Pending() == 0 && !s.t.ServerMidLine()
		s.mu.Unlock()
		if done {
			return nil
		}
	}
}

// upstreamLost ends the session when the upstream's stream ends or fails during the bridge:
// every byte it sent has been relayed.
func (s *session) upstreamLost(err error) error {
	s.upstreamEnded(err)
	return errBridgeEnded
}

// bridgeAuth answers the client's AUTH: bare AUTH lists PLAIN and LOGIN, PLAIN and LOGIN are
// run here (with or without an initial response), any other mechanism is refused.
func (s *session) bridgeAuth(lr, up *lineReader, arg string) (bool, error) {
	mech, ir, hasIR := strings.Cut(arg, " ")
	mech = strings.ToUpper(mech)
	var user, pass string
	switch {
	case arg == "":
		return false, s.lockedReply(bridgeMechs)
	case mech == "PLAIN":
		msg, ok, err := s.saslStep(lr, bridgeContinue, ir, hasIR)
		if !ok {
			return false, err
		}
		parts := strings.Split(string(msg), "\x00")
		if len(parts) != 3 || (parts[0] != "" && parts[0] != parts[1]) || parts[1] == "" {
			return false, s.lockedReply(bridgeBadSASL)
		}
		user, pass = parts[1], parts[2]
	case mech == "LOGIN":
		name, ok, err := s.saslStep(lr, bridgeLoginPrompt, ir, hasIR)
		if !ok {
			return false, err
		}
		secret, ok, err := s.saslStep(lr, bridgePassPrompt, "", false)
		if !ok {
			return false, err
		}
		user, pass = string(name), string(secret)
	default:
		return false, s.lockedReply(bridgeMech)
	}
	if user == "" {
		return false, s.lockedReply(bridgeBadSASL)
	}
	return s.oauthLogin(up, user, pass)
}

// saslStep returns the decoded client message of one SASL step: the initial response when
// the client sent one, else its answer to challenge. ok is false when the exchange ended here
// (cancelled, bad base64: the client has its -ERR) or a leg failed (err).
func (s *session) saslStep(lr *lineReader, challenge []byte, ir string, hasIR bool) (msg []byte, ok bool, err error) {
	text := ir
	if !hasIR {
		if err := s.lockedReply(challenge); err != nil {
			return nil, false, err
		}
		line, complete, err := lr.next()
		switch {
		case err != nil:
			return nil, false, err
		case !complete:
			return nil, false, errors.New("client SASL answer too long or unterminated")
		}
		s.touch()
		s.mu.Lock()
		f, framed := s.bridgeFrame(line)
		if framed {
			s.rec.frame(f, logview.LegLocal)
		}
		s.mu.Unlock()
		if !framed {
			return nil, false, errBridgeEnded
		}
		text = strings.TrimRight(string(line), "\r\n")
	}
	if text == "*" {
		return nil, false, s.lockedReply(bridgeCancelled)
	}
	if text == "=" {
		return []byte{}, true, nil
	}
	msg, derr := base64.StdEncoding.Strict().DecodeString(text)
	if derr != nil {
		return nil, false, s.lockedReply(bridgeBadSASL)
	}
	return msg, true, nil
}

// oauthLogin gets user's access token with password and logs in upstream with it, relaying
// the upstream's answer to the client; next reports a login. The token is asked for without
// s.mu, under a deadline within the login timeout. A failure of the Source is one -ERR line
// to the client and the same sentence in the log.
func (s *session) oauthLogin(up *lineReader, user, password string) (next bool, err error) {
	deadline := s.start.Add(s.loginTimeout())
	if soon := time.Now().Add(tokenTimeout); soon.Before(deadline) {
		deadline = soon
	}
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	acc, terr := s.srv.cfg.OAuth.Token(ctx, user, password)
	cancel()
	if terr != nil {
		if s.closing() {
			return false, errBridgeEnded
		}
		code, sentence := tokenFailure(terr, user)
		s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegLocal, Err: "proxy: oauth: " + sentence})
		return false, s.lockedReply([]byte("-ERR " + code + " popwire: " + sentence + "\r\n"))
	}
	mech := acc.Mechanism
	if m := s.srv.cfg.OAuthMechanism; m != nil {
		mech = *m
	}
	blob, secrets := mech.Respond(user, acc.Token)
	s.rec.secret(secrets...)
	text := "AUTH " + mech.String() + " sent upstream in the two-step form"
	if acc.Scope != "" {
		text += "; scope " + acc.Scope
	}
	if !acc.Expiry.IsZero() {
		text += "; token valid until " + acc.Expiry.UTC().Format(time.RFC3339)
	}
	s.rec.event(logview.Event{Kind: logview.KindPolicy, Dir: logview.DirLocal, Action: "oauth", Verb: "AUTH", Mech: mech.String(), Text: text})
	reply, err := s.upstreamAuth(up, mech, blob)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.relay(reply, logview.LegUpstream); err != nil {
		return false, err
	}
	return s.t.State() != codec.Authorization, nil
}

// tokenFailure returns the response code and the plain sentence for a failed Source.Token
// (the Source's texts never hold a secret): RFC 3206 §4 [AUTH] for what the user must fix,
// [SYS/TEMP] for a provider that cannot be reached.
func tokenFailure(err error, user string) (code, sentence string) {
	switch {
	case errors.Is(err, oauth.ErrWrongPassword):
		return "[AUTH]", "wrong password for this account (the local password chosen at popwire auth login)"
	case errors.Is(err, oauth.ErrNoToken):
		return "[AUTH]", "no token is stored for this account: run popwire auth login " + oneLine(user, 200)
	case errors.Is(err, oauth.ErrRefreshRefused):
		sentence := oneLine(strings.TrimPrefix(err.Error(), "oauth: "), 300)
		if !strings.Contains(sentence, "popwire auth login") { // the token store's errors name the fix already
			sentence += " (re-authorise: run popwire auth login " + oneLine(user, 200) + ")"
		}
		return "[AUTH]", sentence
	case errors.Is(err, oauth.ErrUnreachable):
		return "[SYS/TEMP]", "the OAuth provider cannot be reached; try again later"
	case errors.Is(err, context.DeadlineExceeded):
		return "[SYS/TEMP]", "the OAuth provider did not answer in time; try again later"
	}
	return "[SYS/TEMP]", "the access token could not be obtained: " + oneLine(strings.TrimPrefix(err.Error(), "oauth: "), 300)
}

// upstreamAuth runs AUTH mech upstream in the two-step form (the command, the server's "+ ",
// then blob: Microsoft refuses the one-line form) and returns the server's final status line.
// A refused token answered with an error challenge, base64 JSON, is completed as the
// mechanism says (XOAUTH2: an empty line; OAUTHBEARER: %x01, RFC 7628 §3.2.3) and its status
// and scope are logged. A line that is no status line ends the session (fail closed).
func (s *session) upstreamAuth(up *lineReader, mech oauth.Mechanism, blob string) ([]byte, error) {
	if err := s.upLine("AUTH " + mech.String() + "\r\n"); err != nil {
		return nil, err
	}
	line, err := s.upReply(up)
	if err != nil || !continuation(line) {
		return line, err
	}
	if err := s.upLine(blob + "\r\n"); err != nil {
		return nil, err
	}
	if line, err = s.upReply(up); err != nil || !continuation(line) {
		return line, err
	}
	s.rec.event(logview.Event{Kind: logview.KindPolicy, Dir: logview.DirLocal, Action: "oauth", Verb: "AUTH", Mech: mech.String(),
		Text: "the server refused the token: " + bearerChallenge(line)})
	if err := s.upLine(mech.ErrorAnswer() + "\r\n"); err != nil {
		return nil, err
	}
	if line, err = s.upReply(up); err == nil && continuation(line) {
		return nil, s.upstreamUnclear("a second challenge after the error challenge")
	}
	return line, err
}

// continuation reports whether a server line is a SASL continuation, "+ …" or a bare "+"
// (RFC 5034 §4), rather than "+OK".
func continuation(line []byte) bool {
	return bytes.HasPrefix(line, []byte("+")) && !bytes.HasPrefix(line, []byte("+OK"))
}

// upLine writes one line of the bridge's own to the upstream.
func (s *session) upLine(line string) error {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	return s.writeUpstream([]byte(line))
}

// upReply reads one upstream line of the bridge's login: "+…" or "-ERR…", line ending
// included. Anything else ends the session.
func (s *session) upReply(up *lineReader) ([]byte, error) {
	line, complete, err := up.next()
	if len(line) > 0 {
		s.touch()
	}
	switch {
	case err != nil:
		return nil, s.upstreamLost(err)
	case !complete:
		return nil, s.upstreamUnclear("an over-long line")
	case bytes.HasPrefix(line, []byte("+")) || bytes.HasPrefix(line, []byte("-ERR")):
		return bytes.Clone(line), nil
	}
	return nil, s.upstreamUnclear("a line that is no status line")
}

// upstreamUnclear ends the session on an upstream answer the bridge cannot read: the client
// gets one -ERR line, never the server's unread bytes.
func (s *session) upstreamUnclear(what string) error {
	sentence := "the server answered the OAuth login with " + what
	s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegUpstream, Err: "proxy: oauth: " + sentence})
	if err := s.lockedReply([]byte("-ERR [SYS/TEMP] popwire: " + sentence + "\r\n")); err != nil {
		s.finish("client write failed")
		return errBridgeEnded
	}
	s.finishDelivered("oauth login unclear")
	return errBridgeEnded
}

// bearerChallenge describes the error challenge of a refused bearer token ("+ " base64 JSON,
// RFC 7628 §3.2.2 and Google's XOAUTH2): its status and scope, never the raw bytes.
func bearerChallenge(line []byte) string {
	status, scope, ok := oauth.ErrorChallenge(strings.TrimPrefix(string(line), "+"))
	if !ok {
		return "an error challenge that is not base64 JSON"
	}
	return fmt.Sprintf("status %q, scope %q", oneLine(status, 100), oneLine(scope, 300))
}

// secret remembers values as secrets of the session: every later text is scrubbed of them.
func (r *recorder) secret(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		if v != "" {
			r.redact.AddSecret(v)
		}
	}
}
