package proxy

import (
	"bytes"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/oauth"
)

// policyStep is what the client sends and the lines it then reads.
type policyStep struct{ send, want string }

// executed is the answer of the scripted upstream to a line popwire must never forward: a
// server that trims blanks or splits at a bare CR would run it.
const executed = "+OK executed\r\n"

func TestPolicyRefusesWhatItCannotClassify(t *testing.T) {
	unparsed := func(why string) string {
		return "-ERR [SYS/PERM] popwire cannot parse this command line (" + why + ")\r\n"
	}
	blank := unparsed("blank before the keyword")
	denyDELE := Config{Deny: []string{"DELE"}}
	tests := []struct {
		name     string
		cfg      Config
		steps    []policyStep
		upstream string // everything the upstream receives
		action   string // a policy event this must log
	}{
		{"leading blank", denyDELE, []policyStep{{" DELE 1\r\n", blank}}, "QUIT\r\n", "unparsed"},
		{"leading tab", denyDELE, []policyStep{{"\tDELE 1\r\n", blank}}, "QUIT\r\n", "unparsed"},
		{"blanks, lower case, tab", denyDELE, []policyStep{{"  dele\t1\r\n", blank}}, "QUIT\r\n", "unparsed"},
		{"bare CR", denyDELE, []policyStep{{"NOOP x\rDELE 1\r\n", unparsed("NUL or bare CR in the line")}}, "QUIT\r\n", "unparsed"},
		{"NUL", denyDELE, []policyStep{{"NOOP \x00\r\n", unparsed("NUL or bare CR in the line")}}, "QUIT\r\n", "unparsed"},
		{"keyword beginning with a denied one", denyDELE, []policyStep{{"DELEX 1\r\n",
			unparsed("keyword begins with one popwire answers itself")}}, "QUIT\r\n", "unparsed"},
		{"unknown keyword denied in AUTHORIZATION", Config{Deny: []string{"XCLIENT"}}, []policyStep{{"XCLIENT ADDR=10.0.0.1\r\n",
			string(replyDenied)}}, "QUIT\r\n", "deny"},
		{"blank before USER and PASS, require-tls", Config{RequireTLS: true}, []policyStep{{" USER you\r\n PASS x\r\n",
			blank + blank}}, "QUIT\r\n", "unparsed"},
		{"blank before STLS", Config{}, []policyStep{{" STLS\r\n", blank}}, "QUIT\r\n", "unparsed"},
		{"+OK to AUTH PLAIN, then DELE", denyDELE, []policyStep{{"AUTH PLAIN\r\n", "+OK\r\n"}, {"DELE 2\r\n", string(replyDenied)}},
			"AUTH PLAIN\r\nQUIT\r\n", "deny"},
		{"+OK to pipelined AUTH LOGIN and DELEs", denyDELE, []policyStep{{"AUTH LOGIN\r\nDELE 3\r\nDELE 4\r\n",
			"+OK\r\n" + string(replyDenied) + string(replyDenied)}}, "AUTH LOGIN\r\nQUIT\r\n", "deny"},
		{"denied STLS, then DELE pipelined", Config{Deny: []string{"STLS", "DELE"}}, []policyStep{{"STLS\r\nDELE 1\r\n",
			string(replyDenied) + string(replyDenied)}}, "QUIT\r\n", "deny"},
		{"denied STLS, then a command pipelined", Config{Deny: []string{"STLS"}}, []policyStep{{"STLS\r\nNOOP\r\n",
			string(replyDenied) + "+OK\r\n"}}, "NOOP\r\nQUIT\r\n", "deny"},
		{"commands still pass", denyDELE, []policyStep{{"NOOP\r\nXSTATS 1\r\n", "+OK\r\n-ERR unknown\r\n"}},
			"NOOP\r\nXSTATS 1\r\nQUIT\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, false, scriptReplies(map[string]string{
				"AUTH PLAIN": "+OK\r\n", "AUTH LOGIN": "+OK\r\n", "NOOP": "+OK\r\n", "XSTATS 1": "-ERR unknown\r\n",
				"QUIT": "+OK bye\r\n", " DELE 1": executed, "\tDELE 1": executed, "  dele\t1": executed,
				"NOOP x\rDELE 1": executed, "NOOP \x00": executed, "DELEX 1": executed, "XCLIENT ADDR=10.0.0.1": executed,
				" USER you": executed, " PASS x": executed, " STLS": executed, "DELE 2": executed, "DELE 3": executed, "DELE 4": executed,
			}))
			p := startProxy(t, tt.cfg, up.addr())
			c := p.dial(t, false)
			if l := c.line(t); l != greeting {
				t.Fatalf("greeting %q", l)
			}
			for _, st := range tt.steps {
				c.send(t, st.send)
				got := ""
				for range strings.Count(st.want, "\n") {
					got += c.line(t)
				}
				if got != st.want {
					t.Fatalf("after %q the client got %q, want %q", st.send, got, st.want)
				}
			}
			c.send(t, "QUIT\r\n")
			if rest := c.rest(t); rest != "+OK bye\r\n" {
				t.Fatalf("client then got %q", rest)
			}
			if u := up.next(t).all(t); u != tt.upstream {
				t.Fatalf("upstream got %q, want %q", u, tt.upstream)
			}
			if tt.action != "" {
				p.sink.find(t, "policy", func(e logview.Event) bool { return e.Kind == logview.KindPolicy && e.Action == tt.action })
			}
		})
	}
}

func TestPolicyLongLines(t *testing.T) {
	long := strings.Repeat("x", maxClientLine+100)
	tests := []struct {
		name, line string
		forwarded  bool // the first piece reaches the upstream
	}{
		{"bare CR after the first piece", "NOOP " + long + "\rDELE 1\r\n", true},
		{"bare CR in a middle piece", "NOOP " + long + "\r" + long + "\r\n", true},
		{"NUL in the last piece", "NOOP " + long + "\x00\r\n", true},
		{"keyword beginning with a denied one", "DELEX" + long + " 1\r\n", false},
		{"denied keyword", "DELE " + long + "\r\n", false},
		{"blank before the keyword", " DELE " + long + "\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, false, scriptReplies(map[string]string{"NOOP": "+OK\r\n", "QUIT": "+OK bye\r\n"}))
			p := startProxy(t, Config{Deny: []string{"DELE"}}, up.addr())
			c := p.dial(t, false)
			c.send(t, "NOOP\r\n")
			if got := c.line(t) + c.line(t); got != greeting+"+OK\r\n" {
				t.Fatalf("client got %q", got)
			}
			c.send(t, tt.line+"QUIT\r\n")
			c.rest(t)
			u := up.next(t).all(t)
			rest, ok := strings.CutPrefix(u, "NOOP\r\n")
			if !ok || strings.ContainsAny(rest, "\r\n\x00") || strings.Contains(rest, "DELE") || strings.Contains(rest, "QUIT") {
				t.Fatalf("upstream got %d bytes: %q…%q", len(u), u[:min(len(u), 40)], u[max(0, len(u)-40):])
			}
			if (rest != "") != tt.forwarded {
				t.Fatalf("upstream got %d bytes of the long line, want forwarded=%v", len(rest), tt.forwarded)
			}
			p.sink.find(t, "error", func(e logview.Event) bool {
				return e.Kind == logview.KindError && strings.Contains(e.Err, "client line over")
			})
		})
	}
}

func TestPolicySASLLineWithBareCR(t *testing.T) {
	up := newUpstream(t, false, scriptReplies(map[string]string{"AUTH PLAIN": "+ \r\n", "*\rSTLS": executed, "*": "-ERR\r\n"}))
	p := startProxy(t, Config{}, up.addr())
	c := p.dial(t, false)
	c.send(t, "AUTH PLAIN\r\n")
	if got := c.line(t) + c.line(t); got != greeting+"+ \r\n" {
		t.Fatalf("client got %q", got)
	}
	c.send(t, "*\rSTLS\r\n")
	if rest := c.rest(t); rest != "" {
		t.Fatalf("client then got %q", rest)
	}
	if u := up.next(t).all(t); u != "AUTH PLAIN\r\n" {
		t.Fatalf("upstream got %q", u)
	}
}

func TestHeldLinesOutliveClientEOF(t *testing.T) {
	for _, answer := range []string{"+OK\r\n", "-ERR\r\n"} {
		t.Run(strings.TrimSpace(answer), func(t *testing.T) {
			up := newUpstream(t, false, func(u *upstreamConn) {
				u.write(greeting)
				if _, err := u.line(); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond) // the client's EOF arrives before this answer
				u.write(answer)
				for {
					l, err := u.line()
					if err != nil {
						return
					}
					u.write(map[string]string{"NOOP\r\n": "+OK\r\n", "QUIT\r\n": "+OK bye\r\n"}[l])
				}
			})
			p := startProxy(t, Config{Deny: []string{"DELE"}}, up.addr())
			c := p.dial(t, false)
			c.send(t, "AUTH PLAIN AGJvYgBzZWNyZXQ=\r\nNOOP\r\nDELE 1\r\nQUIT\r\n")
			c.Conn.(*net.TCPConn).CloseWrite()
			want := greeting + answer + "+OK\r\n" + string(replyDenied) + "+OK bye\r\n"
			if got := c.rest(t); got != want {
				t.Fatalf("client got %q, want %q", got, want)
			}
			if u := up.next(t).all(t); u != "AUTH PLAIN AGJvYgBzZWNyZXQ=\r\nNOOP\r\nQUIT\r\n" {
				t.Fatalf("upstream got %q", u)
			}
		})
	}
}

func TestLinesAfterRefusedAUTH(t *testing.T) {
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write(greeting)
		replies := map[string]string{"CAPA\r\n": "+OK\r\nUSER\r\n.\r\n", "NOOP\r\n": "+OK\r\n", "QUIT\r\n": "+OK bye\r\n"}
		for {
			l, err := u.line()
			if err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond) // the AUTH and the lines after it arrive meanwhile
			u.write(replies[l])
			if l == "QUIT\r\n" {
				return
			}
		}
	})
	p := startProxy(t, Config{RequireTLS: true, Deny: []string{"DELE"}}, up.addr())
	c := p.dial(t, false)
	c.send(t, "CAPA\r\nAUTH PLAIN\r\nNOOP\r\nDELE 1\r\nQUIT\r\n")

	want := greeting + "+OK\r\nSTLS\r\n.\r\n" + string(replyTLSRequired) + "+OK\r\n" + string(replyDenied) + "+OK bye\r\n"
	if got := c.rest(t); got != want {
		t.Fatalf("client got %q, want %q", got, want)
	}
	if u := up.next(t).all(t); u != "CAPA\r\nNOOP\r\nQUIT\r\n" {
		t.Fatalf("upstream got %q", u)
	}
	// Each command is logged once, the held ones too, whichever reply classified them.
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	var verbs []string
	for _, e := range p.sink.kinds(logview.KindCommand) {
		verbs = append(verbs, e.Verb)
	}
	if want := []string{"CAPA", "AUTH", "NOOP", "DELE", "QUIT"}; !slices.Equal(verbs, want) {
		t.Errorf("command events %q, want %q", verbs, want)
	}
}

// Without a policy (no certificate, no deny, no require-tls) a line popwire cannot parse is
// the server's to answer: popwire only logs.
func TestNoPolicyPassesLinesItCannotParse(t *testing.T) {
	up := newUpstream(t, false, scriptReplies(map[string]string{" STLS": "-ERR TLS is already active.\r\n", "QUIT": "+OK bye\r\n"}))
	p := startProxyCert(t, Config{}, up.addr())
	c := p.dial(t, false)
	c.send(t, " STLS\r\nQUIT\r\n")
	if got, want := c.rest(t), greeting+"-ERR TLS is already active.\r\n+OK bye\r\n"; got != want {
		t.Fatalf("client got %q, want %q", got, want)
	}
	if u := up.next(t).all(t); u != " STLS\r\nQUIT\r\n" {
		t.Fatalf("upstream got %q", u)
	}
}

// upRecorder is an upstream leg that keeps what is written to it and where the client's EOF
// was passed on (closedAt, -1 until then).
type upRecorder struct {
	discardConn
	got      bytes.Buffer
	closedAt int
}

func (u *upRecorder) Write(p []byte) (int, error) { return u.got.Write(p) }

func (u *upRecorder) CloseWrite() error {
	u.closedAt = u.got.Len()
	return nil
}

// heldStep is one step of runHeldSteps, done as the pumps do it: a piece
// of a client line (complete when it ends in LF), the client's EOF, or a server chunk. up is
// everything the upstream has received after it; ends says the session ends on the piece.
type heldStep struct {
	client, server string
	eof, ends      bool
	up             string
}

// TestIncompleteLineBehindHeldLines: bytes of a client line without its end, arriving while
// lines are held for the answer to AUTH, must not overtake them (FuzzPolicy found "1\r" sent
// ahead of a held USER: the server took "1" as the SASL answer and ran USER). They wait for
// their line's end or for the client's EOF, and then go after the held lines; a line too long
// to hold ends the session before any of it is sent.
func TestIncompleteLineBehindHeldLines(t *testing.T) {
	const auth = "AUTH PLAIN\r\n"
	denied := string(replyDenied)
	tests := []struct {
		name   string
		steps  []heldStep
		client string // what the client receives after the greeting
		closed bool   // the client's EOF reached the upstream, after everything else
	}{
		{"challenge, the client closed before it", []heldStep{
			{client: auth, up: auth}, {client: "USER\r\n", up: auth}, {client: "1\r", up: auth}, {eof: true, up: auth},
			{server: "+\r\n", up: auth + "USER\r\n1\r"},
		}, "+\r\n", true},
		{"+OK, the client closed before it", []heldStep{
			{client: auth, up: auth}, {client: "USER\r\n", up: auth}, {client: "1\r", up: auth}, {eof: true, up: auth},
			{server: "+OK\r\n", up: auth + "1\r"},
		}, "+OK\r\n" + denied, true},
		{"+OK, the client closes after it", []heldStep{
			{client: auth, up: auth}, {client: "USER\r\n", up: auth}, {client: "1\r", up: auth},
			{server: "+OK\r\n", up: auth}, {eof: true, up: auth + "1\r"},
		}, "+OK\r\n" + denied, true},
		{"line completed while held", []heldStep{
			{client: auth, up: auth}, {client: "USER\r\n", up: auth}, {client: "NOOP", up: auth}, {client: " 1\r\n", up: auth},
			{server: "+OK\r\n", up: auth + "NOOP 1\r\n"}, {server: "+OK\r\n", up: auth + "NOOP 1\r\n"},
		}, "+OK\r\n" + denied + "+OK\r\n", false},
		{"line completed after the held lines are answered", []heldStep{
			{client: auth, up: auth}, {client: "USER\r\n", up: auth}, {client: "NOOP", up: auth},
			{server: "+OK\r\n", up: auth}, {client: " 1\r\n", up: auth + "NOOP 1\r\n"},
		}, "+OK\r\n" + denied, false},
		{"denied command completed while held", []heldStep{
			{client: auth, up: auth}, {client: "USER\r\n", up: auth}, {client: "DE", up: auth}, {client: "LE 1\r\n", up: auth},
			{server: "+OK\r\n", up: auth}, {client: "NOOP\r\n", up: auth + "NOOP\r\n"},
		}, "+OK\r\n" + denied + denied, false},
		{"STLS held, the client closed", []heldStep{
			{client: auth, up: auth}, {client: "STLS\r\n", up: auth}, {client: "NOOP", up: auth}, {eof: true, up: auth},
			{server: "+OK\r\n", up: auth},
		}, "+OK\r\n" + string(replyNoSTLS), true},
		{"STLS held, the line completed after its answer", []heldStep{
			{client: auth, up: auth}, {client: "STLS\r\n", up: auth}, {client: "NOOP", up: auth},
			{server: "+OK\r\n", up: auth}, {client: " 1\r\n", up: auth}, {eof: true, up: auth},
		}, "+OK\r\n" + string(replyNoSTLS), true},
		{"line too long to hold", []heldStep{
			{client: auth, up: auth}, {client: "USER\r\n", up: auth},
			{client: "NOOP " + strings.Repeat("x", maxClientLine-5), ends: true, up: auth},
		}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runHeldSteps(t, tt.steps, tt.client, tt.closed) })
	}
}

// TestLinesHeldAfterSTLSAreDropped: the lines held behind AUTH after an STLS were sent after
// it before its answer. Like such lines sent later, they are never forwarded (RFC 2595 §4):
// a server would run them, and their replies would reach the client after the handshake.
func TestLinesHeldAfterSTLSAreDropped(t *testing.T) {
	const auth = "AUTH PLAIN\r\n"
	runHeldSteps(t, []heldStep{
		{client: auth, up: auth}, {client: "STLS\r\n", up: auth}, {client: "NOOP\r\n", up: auth}, {client: "PASS x\r\n", up: auth},
		{eof: true, up: auth}, {server: "+OK\r\n", up: auth},
	}, "+OK\r\n"+string(replyNoSTLS), true)
}

// runHeldSteps does steps in a session denying USER and DELE, whose upstream leg is an
// upRecorder, and checks what the client received after the greeting and whether the
// client's EOF reached the upstream after everything else.
func runHeldSteps(t *testing.T, steps []heldStep, client string, closed bool) {
	t.Helper()
	s, w := countedSession(t, Config{Deny: []string{"USER", "DELE"}})
	up := &upRecorder{closedAt: -1}
	s.upConn = up
	for i, st := range steps {
		switch {
		case st.client != "":
			if ok := s.clientLine([]byte(st.client), strings.HasSuffix(st.client, "\n")); ok == st.ends {
				t.Fatalf("step %d: clientLine(%.20q) = %v", i, st.client, ok)
			}
		case st.eof:
			s.clientEnded(io.EOF)
		default:
			if err := s.serverBytes([]byte(st.server)); err != nil {
				t.Fatal(err)
			}
			if s.heldEOFDue() {
				s.clientEnded(io.EOF)
			}
		}
		if got := up.got.String(); got != st.up {
			t.Fatalf("after step %d the upstream got %.80q, want %q", i, got, st.up)
		}
	}
	if got := w.got.String(); got != client {
		t.Errorf("client got %q, want %q", got, client)
	}
	if done := up.closedAt == up.got.Len(); done != closed {
		t.Errorf("the client's EOF was passed on at byte %d of %d, want passed on after all: %v", up.closedAt, up.got.Len(), closed)
	}
}

// TestBridgeLongCredentialLine: under the OAuth bridge, a credential line too long to hold is
// refused like a short one: none of it reaches the upstream, and the session closes.
func TestBridgeLongCredentialLine(t *testing.T) {
	long := strings.Repeat("x", maxClientLine+100)
	for _, verb := range []string{"PASS", "USER", "AUTH"} {
		t.Run(verb, func(t *testing.T) {
			up := oauthUpstream(t, oauth.XOAUTH2)
			p := startProxy(t, Config{OAuth: newFakeSource()}, up.addr())
			c := p.dial(t, false)
			c.line(t)
			expectReplies(t, c, [2]string{"USER " + bridgeUser, "+OK"}, [2]string{"PASS " + bridgePassword, "+OK Logged in."})
			c.send(t, verb+" "+long+"\r\nQUIT\r\n")
			c.rest(t)
			want := "AUTH XOAUTH2\r\n" + oauth.XOAUTH2.InitialResponse(bridgeUser, bridgeToken) + "\r\n"
			if u := up.next(t).all(t); u != want {
				t.Fatalf("upstream got %d bytes: %q…%q; want %q", len(u), u[:min(len(u), 60)], u[max(0, len(u)-40):], want)
			}
			p.sink.find(t, "error", func(e logview.Event) bool {
				return e.Kind == logview.KindError && strings.Contains(e.Err, "client line over")
			})
		})
	}
}
