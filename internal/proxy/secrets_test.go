package proxy

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/metrics"
	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/pcapng"
)

var secretRounds = flag.Int("secret-rounds", 3, "random secrets tried per auth path in TestNoSecretInAnyOutput")

// authStep is one client line and the upstream's answer to it.
type authStep struct{ client, server string }

// authPath is one way a client can put a secret on the wire. steps builds the exchange for a
// secret; the greeting is sent first. forbidden lists what must never appear in any output
// besides the secret itself and its base64 and hex forms (e.g. a digest derived from it).
type authPath struct {
	name     string
	greeting string
	unframed bool // the codec may stop framing at the secret line instead of redacting it
	steps    func(secret string) (steps []authStep, forbidden []string)
}

const apopStamp = "<1896.697170952@dbc.mtview.ca.us>"

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// echo is how the fake upstream answers the last step: a failure that echoes the client's
// line, which the recorder must scrub from the next server line.
func echo(line string) string { return "-ERR [AUTH] rejected " + line + "\r\n" }

func authPaths() []authPath {
	return []authPath{
		{name: "USER/PASS", steps: func(s string) ([]authStep, []string) {
			return []authStep{{"USER bob", "+OK\r\n"}, {"PASS " + s, echo(s)}}, nil
		}},
		{name: "APOP", greeting: "+OK POP3 server ready " + apopStamp + "\r\n", steps: func(s string) ([]authStep, []string) {
			sum := md5.Sum([]byte(apopStamp + s))
			d := hex.EncodeToString(sum[:])
			return []authStep{{"APOP bob " + d, echo(d)}}, []string{d}
		}},
		{name: "PLAIN with initial response", steps: func(s string) ([]authStep, []string) {
			ir := b64("admin\x00bob\x00" + s)
			return []authStep{{"AUTH PLAIN " + ir, echo(ir)}}, []string{ir}
		}},
		{name: "PLAIN after a challenge", steps: func(s string) ([]authStep, []string) {
			ir := b64("\x00bob\x00" + s)
			return []authStep{{"AUTH PLAIN", "+ \r\n"}, {ir, echo(ir)}}, []string{ir}
		}},
		{name: "LOGIN", steps: func(s string) ([]authStep, []string) {
			return []authStep{{"AUTH LOGIN", "+ VXNlcm5hbWU6\r\n"}, {b64("bob"), "+ UGFzc3dvcmQ6\r\n"}, {b64(s), echo(b64(s))}}, nil
		}},
		{name: "LOGIN with the user as initial response and bare +", steps: func(s string) ([]authStep, []string) {
			return []authStep{{"AUTH LOGIN " + b64("bob"), "+\r\n"}, {b64(s), echo(s)}}, nil
		}},
		{name: "CRAM-MD5", steps: func(s string) ([]authStep, []string) {
			m := hmac.New(md5.New, []byte(s))
			m.Write([]byte(apopStamp))
			d := hex.EncodeToString(m.Sum(nil))
			return []authStep{{"AUTH CRAM-MD5", "+ " + b64(apopStamp) + "\r\n"}, {b64("bob " + d), echo(d)}}, []string{d, b64("bob " + d)}
		}},
		{name: "XOAUTH2 with initial response", steps: func(s string) ([]authStep, []string) {
			ir := b64("user=bob@example.org\x01auth=Bearer " + s + "\x01\x01")
			return []authStep{{"AUTH XOAUTH2 " + ir, "+ " + b64(`{"status":"400","schemes":"Bearer"}`) + "\r\n"}, {"", echo("")}}, []string{ir}
		}},
		{name: "XOAUTH2 on its own line", steps: func(s string) ([]authStep, []string) {
			tok := b64("user=bob@example.org\x01auth=Bearer " + s + "\x01\x01")
			return []authStep{{"AUTH XOAUTH2", "+ \r\n"}, {tok, echo(tok)}}, []string{tok}
		}},
		{name: "OAUTHBEARER", steps: func(s string) ([]authStep, []string) {
			ir := b64("n,a=bob@example.org,\x01host=pop.example.org\x01port=995\x01auth=Bearer " + s + "\x01\x01")
			return []authStep{{"AUTH OAUTHBEARER " + ir, "+ " + b64(`{"status":"invalid_token"}`) + "\r\n"}, {"AQ==", echo("AQ==")}}, []string{ir}
		}},
		{name: "SCRAM-SHA-256", steps: func(s string) ([]authStep, []string) {
			c2 := b64("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF,p=" + s)
			return []authStep{
				{"AUTH SCRAM-SHA-256 " + b64("n,,n=bob,r=rOprNGfwEbeRWgbNEkqO"), "+ " + b64("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") + "\r\n"},
				{c2, echo(c2)},
			}, []string{c2}
		}},
		{name: "DIGEST-MD5", steps: func(s string) ([]authStep, []string) {
			resp := b64(`username="bob",realm="example.org",nonce="OA6MG9tEQGm2hh",cnonce="OA6MHXh6VqTrRk",nc=00000001,qop=auth,digest-uri="pop/example.org",response=` + s)
			return []authStep{{"AUTH DIGEST-MD5", "+ " + b64(`realm="example.org",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8`) + "\r\n"}, {resp, echo(resp)}}, []string{resp}
		}},
		{name: "NTLM", steps: func(s string) ([]authStep, []string) {
			t3 := b64(string(ntlmAuthenticate("EXAMPLE", "bob", "WS1", []byte(s))))
			return []authStep{{"AUTH NTLM", "+ \r\n"}, {b64("NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2"), "+ " + b64("NTLMSSP\x00\x02\x00\x00\x00") + "\r\n"}, {t3, echo(t3)}}, []string{t3}
		}},
		{name: "GSSAPI", steps: func(s string) ([]authStep, []string) {
			tok := b64("\x60\x82\x02\x10" + s + "\x00\x01")
			return []authStep{{"AUTH GSSAPI", "+ \r\n"}, {tok, echo(tok)}}, []string{tok}
		}},
		{name: "unknown mechanism", steps: func(s string) ([]authStep, []string) {
			return []authStep{{"AUTH X-SECRET-SAUCE " + b64(s), "+ \r\n"}, {s, echo(s)}}, nil
		}},
		{name: "unrecognised command in AUTHORIZATION", steps: func(s string) ([]authStep, []string) {
			return []authStep{{"USER bob", "+OK\r\n"}, {"XPWD " + s, "-ERR Unknown command: XPWD " + s + "\r\n"}}, nil
		}},
		{name: "bare secret line in AUTHORIZATION", unframed: true, steps: func(s string) ([]authStep, []string) {
			return []authStep{{"USER bob", "+OK\r\n"}, {s, "-ERR Unknown command: " + s + "\r\n"}}, nil
		}},
	}
}

// ntlmAuthenticate builds an NTLM AUTHENTICATE (type 3) message (MS-NLMP §2.2.1.3) with
// Unicode names and resp as the NT response.
func ntlmAuthenticate(domain, user, ws string, resp []byte) []byte {
	u16 := func(s string) []byte {
		var b []byte
		for _, r := range utf16.Encode([]rune(s)) {
			b = binary.LittleEndian.AppendUint16(b, r)
		}
		return b
	}
	fields := [][]byte{nil, resp, u16(domain), u16(user), u16(ws), nil} // LM, NT, domain, user, workstation, session key
	msg := append([]byte("NTLMSSP\x00"), 3, 0, 0, 0)
	off := 64
	head := make([]byte, 0, 52)
	for _, f := range fields {
		head = binary.LittleEndian.AppendUint16(head, uint16(len(f)))
		head = binary.LittleEndian.AppendUint16(head, uint16(len(f)))
		head = binary.LittleEndian.AppendUint32(head, uint32(off))
		off += len(f)
	}
	msg = append(msg, head...)
	msg = binary.LittleEndian.AppendUint32(msg, 1) // NTLMSSP_NEGOTIATE_UNICODE
	for _, f := range fields {
		msg = append(msg, f...)
	}
	return msg
}

// randomSecret makes a secret of the kinds that trip up redaction: spaces, "=", non-ASCII,
// and text that looks like base64.
func randomSecret(r *rand.Rand) string {
	const printable = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =+/!@#$%^&*()-_.,;:"
	var b strings.Builder
	switch r.IntN(4) {
	case 0:
		b.WriteString("pässwört ")
	case 1:
		raw := make([]byte, 9+r.IntN(12))
		for i := range raw {
			raw[i] = byte(r.IntN(256))
		}
		b.WriteString(base64.StdEncoding.EncodeToString(raw))
	case 2:
		b.WriteString("a=b c=d ")
	}
	for n := 10 + r.IntN(20); n > 0; n-- {
		b.WriteByte(printable[r.IntN(len(printable))])
	}
	// The secret must not start or end with a blank: PASS arguments are trimmed at the end.
	return "S" + strings.TrimSpace(b.String()) + "Z"
}

// TestNoSecretInAnyOutput sends random secrets through every auth path, through the real
// proxy to a scripted upstream that echoes them back, and searches every output — the text
// transcript with and without colour and at its full level, the JSON log, the viewer's
// transcript, summary and JSON, and every error the session logged — for the secret, its
// base64 and its hex.
func TestNoSecretInAnyOutput(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0x5ec12e7))
	for _, path := range authPaths() {
		t.Run(path.name, func(t *testing.T) {
			for range *secretRounds {
				secret := randomSecret(r)
				steps, extra := path.steps(secret)
				reg := metrics.New()
				events := runAuthSession(t, path.greeting, steps, path.unframed, LogOptions{}, reg)
				checkNoSecret(t, events, scrapeText(t, reg), secret, extra, !path.unframed)
			}
		})
	}
	for _, path := range bridgePaths() {
		for _, mech := range []oauth.Mechanism{oauth.XOAUTH2, oauth.OAUTHBEARER} {
			for _, challenge := range []bool{false, true} {
				t.Run(fmt.Sprintf("bridge %s %s error challenge %t", path.name, mech, challenge), func(t *testing.T) {
					for range *secretRounds {
						password, token := randomSecret(r), randomSecret(r)
						reg := metrics.New()
						events := runBridgeSession(t, path.steps(password), mech, token, challenge, nil, reg)
						checkNoSecret(t, events, scrapeText(t, reg), password, bridgeForms(mech, token), true)
					}
				})
			}
		}
	}
	t.Run("bridge Source panics", func(t *testing.T) {
		password, token := randomSecret(r), randomSecret(r)
		reg := metrics.New()
		events := runBridgeSession(t, bridgePaths()[0].steps(password), oauth.XOAUTH2, token, false, panicSource{token}, reg)
		checkNoSecret(t, events, scrapeText(t, reg), password, bridgeForms(oauth.XOAUTH2, token), true)
	})
}

// bridgeAccount is the account the OAuth bridge's secret tests log in as.
const bridgeAccount = "bob@example.org"

// bridgePaths are the ways a client gives the OAuth bridge its local password: each client
// line, and the reply popwire itself gives it ("" for the last line, which the upstream's
// answer answers).
func bridgePaths() []struct {
	name  string
	steps func(password string) []authStep
} {
	return []struct {
		name  string
		steps func(password string) []authStep
	}{
		{"USER/PASS", func(pw string) []authStep {
			return []authStep{{"USER " + bridgeAccount, "+OK\r\n"}, {"PASS " + pw, ""}}
		}},
		{"PLAIN with initial response", func(pw string) []authStep {
			return []authStep{{"AUTH PLAIN " + b64(bridgeAccount+"\x00"+bridgeAccount+"\x00"+pw), ""}}
		}},
		{"PLAIN after a challenge", func(pw string) []authStep {
			return []authStep{{"AUTH PLAIN", "+ \r\n"}, {b64("\x00" + bridgeAccount + "\x00" + pw), ""}}
		}},
		{"LOGIN", func(pw string) []authStep {
			return []authStep{{"AUTH LOGIN", "+ VXNlcm5hbWU6\r\n"}, {b64(bridgeAccount), "+ UGFzc3dvcmQ6\r\n"}, {b64(pw), ""}}
		}},
	}
}

// bridgeForms are the forms of an access token that must reach no output: the token, its
// base64, and the mechanism's blob, base64 and raw (as JSON writes its control characters, too).
func bridgeForms(mech oauth.Mechanism, token string) []string {
	blob := mech.InitialResponse(bridgeAccount, token)
	raw, _ := base64.StdEncoding.DecodeString(blob)
	return []string{token, b64(token), base64.RawStdEncoding.EncodeToString([]byte(token)), hex.EncodeToString([]byte(token)),
		blob, string(raw), strings.ReplaceAll(string(raw), "\x01", `\u0001`)}
}

// panicSource is an oauth.Source that panics with a value that holds the token.
type panicSource struct{ token string }

func (p panicSource) Token(context.Context, string, string) (oauth.Access, error) {
	panic(errors.New("token " + p.token))
}

// runBridgeSession logs in through the OAuth bridge (src, or a Source that gives token for
// any password) to an upstream that echoes the blob and the token in its refusal, after the
// error challenge when challenge is set, counting into reg (nil: nothing), and returns the session's events once it closed.
func runBridgeSession(t *testing.T, steps []authStep, mech oauth.Mechanism, token string, challenge bool, src oauth.Source, reg *metrics.Registry) []logview.Event {
	t.Helper()
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write("+OK ready\r\n")
		if _, err := u.line(); err != nil {
			return
		}
		u.write("+ \r\n")
		blob, err := u.line()
		if err != nil {
			return
		}
		if challenge {
			u.write("+ " + b64(`{"status":"401","schemes":"Bearer","scope":"`+token+`"}`) + "\r\n")
			if _, err := u.line(); err != nil {
				return
			}
		}
		u.write(echo(strings.TrimRight(blob, "\r\n") + " " + token))
		u.line() // wait for the client to go away
	})
	if src == nil {
		src = anyPassword{token}
	}
	p := startProxy(t, Config{OAuth: src, OAuthMechanism: &mech, Metrics: reg}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	for _, s := range steps {
		c.send(t, s.client+"\r\n")
		if s.server == "" {
			break
		}
		if got := c.line(t); got != s.server {
			t.Fatalf("after %q the client got %q, want %q", s.client, got, s.server)
		}
	}
	c.Conn.(*net.TCPConn).CloseWrite()
	c.rest(t) // the upstream's refusal, or nothing after a panic
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	p.sink.mu.Lock()
	defer p.sink.mu.Unlock()
	return append([]logview.Event(nil), p.sink.ev...)
}

// anyPassword is an oauth.Source that gives its token for any account and password.
type anyPassword struct{ token string }

func (a anyPassword) Token(context.Context, string, string) (oauth.Access, error) {
	return oauth.Access{Token: a.token, Scope: "https://mail.google.com/"}, nil
}

// runAuthSession runs one session through the proxy, counting into reg (nil: no metrics), and
// returns its events once it closed.
// With unframed, popwire may refuse a line it cannot frame and close the session, or answer
// a line it cannot parse as a command itself (it fails closed because it answers STLS
// itself); the exchange then ends there.
func runAuthSession(t *testing.T, greeting string, steps []authStep, unframed bool, opts LogOptions, reg *metrics.Registry) []logview.Event {
	t.Helper()
	if greeting == "" {
		greeting = "+OK ready\r\n"
	}
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write(greeting)
		for _, s := range steps {
			if _, err := u.line(); err != nil {
				return
			}
			u.write(s.server)
		}
		u.line() // wait for the client to go away
	})
	p := startProxy(t, Config{Log: opts, Metrics: reg}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	for _, s := range steps {
		c.send(t, s.client+"\r\n")
		got := c.line(t)
		if unframed && (got == string(replyCannotFrame) || strings.HasPrefix(got, strings.TrimSuffix(string(unparsedReply("")), ")\r\n"))) {
			break
		}
		if got != s.server {
			t.Fatalf("after %q the client got %q, want %q", s.client, got, s.server)
		}
	}
	c.Close()
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	p.sink.mu.Lock()
	defer p.sink.mu.Unlock()
	return append([]logview.Event(nil), p.sink.ev...)
}

// checkNoSecret renders events through every output, takes the metrics scrape as one more,
// and fails on any trace of the secret.
func checkNoSecret(t *testing.T, events []logview.Event, scrape, secret string, extra []string, wantRedacted bool) {
	t.Helper()
	redacted := false
	for _, e := range events {
		redacted = redacted || e.Redacted
	}
	outputs := allOutputs(t, events)
	outputs["metrics"] = scrape
	if wantRedacted && !redacted {
		t.Errorf("no event is marked redacted:\n%s", outputs["text"])
	}
	forms := append([]string{secret, b64(secret), base64.RawStdEncoding.EncodeToString([]byte(secret)),
		hex.EncodeToString([]byte(secret)), strings.ToUpper(hex.EncodeToString([]byte(secret)))}, extra...)
	for name, out := range outputs {
		for _, f := range forms {
			if f != "" && strings.Contains(out, f) {
				t.Errorf("%s output holds %q (secret %q):\n%s", name, f, secret, out)
			}
		}
	}
	if t.Failed() {
		fmt.Fprintf(os.Stderr, "transcript:\n%s", outputs["text"])
	}
}

// allOutputs renders events through every output popwire has — the text transcript with and
// without colour and at its full level, the JSON log, the pcapng capture, the viewer's
// transcript, summary and JSON — and returns each by name, with "errors" holding every error
// text.
func allOutputs(t *testing.T, events []logview.Event) map[string]string {
	t.Helper()
	var jsonLog, text, color, full, capture bytes.Buffer
	jw := logview.NewJSONWriter(&jsonLog)
	plain := logview.NewPrinter(&text, logview.PrinterOptions{})
	colored := logview.NewPrinter(&color, logview.PrinterOptions{Color: true})
	fullText := logview.NewPrinter(&full, logview.PrinterOptions{Level: logview.LevelFull})
	pcap, err := pcapng.NewWriter(&capture, pcapng.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		for _, s := range []logview.Sink{jw, plain, colored, fullText, pcap} {
			if err := s.Emit(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	outputs := map[string]string{"json": jsonLog.String(), "text": text.String(), "color": color.String(), "text full": full.String(), "pcap": capture.String()}
	logFile := filepath.Join(t.TempDir(), "log.jsonl")
	if err := os.WriteFile(logFile, jsonLog.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]logview.ViewOptions{
		"view": {}, "view --transcript full": {Printer: logview.PrinterOptions{Level: logview.LevelFull}}, "view --summary": {Summary: true}, "view --json": {JSON: true}, "view --errors": {Filter: logview.Filter{Errors: true}},
	} {
		var out, warn bytes.Buffer
		opts.Warnings = &warn
		if err := logview.View(t.Context(), opts, []string{logFile}, &out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		outputs[name] = out.String() + warn.String()
	}
	var errs strings.Builder
	for _, e := range events {
		errs.WriteString(e.Err)
	}
	outputs["errors"] = errs.String()
	return outputs
}
