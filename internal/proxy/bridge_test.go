package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/popserver"
)

// fakeSource is an oauth.Source for tests: it gives token for any account whose password is
// password, or fails with err; with block, Token waits for its context to end.
type fakeSource struct {
	password, token, scope string
	expiry                 time.Time
	mech                   oauth.Mechanism // the account's, as Tokens reads it from its file
	err                    error
	block                  bool

	mu       sync.Mutex
	accounts []string
	deadline bool // every call's context had a deadline
}

func (f *fakeSource) Token(ctx context.Context, account, password string) (oauth.Access, error) {
	_, dl := ctx.Deadline()
	f.mu.Lock()
	f.accounts = append(f.accounts, account)
	f.deadline = dl && (len(f.accounts) == 1 || f.deadline)
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return oauth.Access{}, fmt.Errorf("fake: %w: %w", oauth.ErrUnreachable, ctx.Err())
	}
	switch {
	case f.err != nil:
		return oauth.Access{}, f.err
	case password != f.password:
		return oauth.Access{}, fmt.Errorf("fake: %w", oauth.ErrWrongPassword)
	}
	return oauth.Access{Token: f.token, Scope: f.scope, Expiry: f.expiry, Mechanism: f.mech}, nil
}

const (
	bridgeUser     = "someone@example.com"
	bridgePassword = "local pässword 42"
	bridgeToken    = "ya29.a0-bridge-token"
)

func newFakeSource() *fakeSource {
	return &fakeSource{password: bridgePassword, token: bridgeToken, scope: "https://mail.google.com/",
		expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// oauthUpstream is a scripted upstream that takes only the two-step form of mech (as
// Microsoft does), accepts the blob of bridgeUser and bridgeToken, answers a wrong one with
// the error challenge, and then answers STAT, CAPA and QUIT.
func oauthUpstream(t *testing.T, mech oauth.Mechanism) *fakeUpstream {
	return newUpstream(t, false, func(u *upstreamConn) {
		u.write("+OK ready\r\n")
		for {
			l, err := u.line()
			if err != nil {
				return
			}
			switch l = strings.TrimRight(l, "\r\n"); {
			case l == "AUTH "+mech.String():
				u.write("+ \r\n")
				blob, err := u.line()
				if err != nil {
					return
				}
				if strings.TrimRight(blob, "\r\n") == mech.InitialResponse(bridgeUser, bridgeToken) {
					u.write("+OK Logged in.\r\n")
					continue
				}
				u.write("+ " + b64(`{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}`) + "\r\n")
				if _, err := u.line(); err != nil {
					return
				}
				u.write("-ERR [AUTH] Invalid credentials.\r\n")
			case strings.HasPrefix(l, "AUTH "):
				u.write("-ERR Protocol error. Connection is closed. 10\r\n")
				return
			case l == "CAPA":
				u.write("+OK\r\nTOP\r\nUSER\r\nSASL XOAUTH2 OAUTHBEARER\r\nUIDL\r\n.\r\n")
			case l == "STAT":
				u.write("+OK 2 320\r\n")
			case l == "QUIT":
				u.write("+OK bye\r\n")
				return
			default:
				u.write("-ERR unexpected\r\n")
			}
		}
	})
}

// expectReplies sends each line and checks the first line of its reply.
func expectReplies(t *testing.T, c *clientConn, steps ...[2]string) {
	t.Helper()
	for _, s := range steps {
		c.send(t, s[0]+"\r\n")
		if got := c.line(t); got != s[1]+"\r\n" {
			t.Fatalf("%q: got %q, want %q", s[0], got, s[1])
		}
	}
}

func TestBridgeLogins(t *testing.T) {
	plain := b64("\x00" + bridgeUser + "\x00" + bridgePassword)
	for _, tc := range []struct {
		name  string
		mech  oauth.Mechanism
		steps [][2]string
	}{
		{"USER PASS", oauth.XOAUTH2, [][2]string{{"USER " + bridgeUser, "+OK"}, {"PASS " + bridgePassword, "+OK Logged in."}}},
		{"USER PASS with OAUTHBEARER", oauth.OAUTHBEARER, [][2]string{{"USER " + bridgeUser, "+OK"}, {"PASS " + bridgePassword, "+OK Logged in."}}},
		{"AUTH PLAIN initial response", oauth.XOAUTH2, [][2]string{{"AUTH PLAIN " + plain, "+OK Logged in."}}},
		{"AUTH PLAIN continuation", oauth.XOAUTH2, [][2]string{{"AUTH PLAIN", "+ "}, {plain, "+OK Logged in."}}},
		{"AUTH LOGIN", oauth.OAUTHBEARER, [][2]string{{"AUTH LOGIN", "+ VXNlcm5hbWU6"}, {b64(bridgeUser), "+ UGFzc3dvcmQ6"},
			{b64(bridgePassword), "+OK Logged in."}}},
		{"after a failed try", oauth.XOAUTH2, [][2]string{{"USER " + bridgeUser, "+OK"},
			{"PASS wrong", "-ERR [AUTH] popwire: wrong password for this account (the local password chosen at popwire auth login)"},
			{"AUTH LOGIN " + b64(bridgeUser), "+ UGFzc3dvcmQ6"}, {b64(bridgePassword), "+OK Logged in."}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := oauthUpstream(t, tc.mech)
			src := newFakeSource()
			src.mech = tc.mech // the account's own mechanism: no Config.OAuthMechanism
			p := startProxy(t, Config{OAuth: src}, up.addr())
			c := p.dial(t, false)
			c.line(t)
			expectReplies(t, c, tc.steps...)
			expectReplies(t, c, [2]string{"STAT", "+OK 2 320"}, [2]string{"QUIT", "+OK bye"})
			got := up.next(t).all(t)
			want := "AUTH " + tc.mech.String() + "\r\n" + tc.mech.InitialResponse(bridgeUser, bridgeToken) + "\r\nSTAT\r\nQUIT\r\n"
			if got != want {
				t.Errorf("the upstream got %q, want %q", got, want)
			}
			if !src.deadline {
				t.Error("Source.Token was called without a deadline")
			}
			p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
			p.sink.mu.Lock()
			for _, e := range p.sink.ev {
				if (e.Kind == logview.KindSASL && e.Status == "") || (e.Kind == logview.KindCommand && e.Verb != "STAT" && e.Verb != "QUIT") {
					if e.Dir != logview.DirLocal {
						t.Errorf("%s %s %q is logged as %s, but popwire answered it", e.Kind, e.Verb, e.Text, e.Dir)
					}
				}
			}
			p.sink.mu.Unlock()
			e := p.sink.find(t, "oauth policy", func(e logview.Event) bool { return e.Kind == logview.KindPolicy && e.Action == "oauth" })
			if e.Mech != tc.mech.String() || !strings.Contains(e.Text, "2030-01-02T03:04:05Z") || !strings.Contains(e.Text, "https://mail.google.com/") {
				t.Errorf("oauth event %+v", e)
			}
		})
	}
}

func TestBridgePipelined(t *testing.T) {
	up := oauthUpstream(t, oauth.XOAUTH2)
	p := startProxy(t, Config{OAuth: newFakeSource()}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	c.send(t, "CAPA\r\nUSER "+bridgeUser+"\r\nPASS "+bridgePassword+"\r\nSTAT\r\nQUIT\r\n")
	var got strings.Builder
	for range 9 {
		got.WriteString(c.line(t))
	}
	want := "+OK\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN LOGIN\r\nSTLS\r\n.\r\n+OK\r\n+OK Logged in.\r\n"
	if got.String() != want {
		t.Errorf("the client got %q, want %q", got.String(), want)
	}
	if rest := c.rest(t); rest != "+OK 2 320\r\n+OK bye\r\n" {
		t.Errorf("then %q", rest)
	}
}

func TestBridgeCAPA(t *testing.T) {
	for _, tc := range []struct {
		name       string
		requireTLS bool
		tls        bool
		want       string
	}{
		{"plaintext", false, false, "+OK\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN LOGIN\r\nSTLS\r\n.\r\n"},
		{"TLS", false, true, "+OK\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n"},
		{"require-tls on plaintext", true, false, "+OK\r\nTOP\r\nUIDL\r\nSTLS\r\n.\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := oauthUpstream(t, oauth.XOAUTH2)
			p := startProxy(t, Config{OAuth: newFakeSource(), RequireTLS: tc.requireTLS}, up.addr())
			c := p.dial(t, tc.tls)
			c.line(t)
			c.send(t, "CAPA\r\n")
			var got strings.Builder
			for !strings.HasSuffix(got.String(), "\r\n.\r\n") {
				got.WriteString(c.line(t))
			}
			if got.String() != tc.want {
				t.Errorf("CAPA: got %q, want %q", got.String(), tc.want)
			}
			if tc.requireTLS {
				expectReplies(t, c, [2]string{"USER " + bridgeUser, "-ERR [AUTH] TLS required: use STLS first."})
			}
		})
	}
}

func TestBridgeRefusals(t *testing.T) {
	up := oauthUpstream(t, oauth.XOAUTH2)
	p := startProxy(t, Config{OAuth: newFakeSource()}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	expectReplies(t, c,
		[2]string{"APOP " + bridgeUser + " 0123456789abcdef0123456789abcdef", string(bridgeAPOP[:len(bridgeAPOP)-2])},
		[2]string{"AUTH CRAM-MD5", string(bridgeMech[:len(bridgeMech)-2])},
		[2]string{"AUTH", "+OK"})
	if got := c.line(t) + c.line(t) + c.line(t); got != "PLAIN\r\nLOGIN\r\n.\r\n" {
		t.Fatalf("AUTH listing: %q", got)
	}
	expectReplies(t, c, [2]string{"STAT", "-ERR Not logged in."},
		[2]string{"PASS " + bridgePassword, "-ERR No username given."},
		[2]string{"AUTH PLAIN", "+ "}, [2]string{"*", "-ERR Authentication cancelled."},
		[2]string{"USER " + bridgeUser, "+OK"}, [2]string{"PASS " + bridgePassword, "+OK Logged in."})
}

func TestBridgeTokenFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"no token", fmt.Errorf("store: %w", oauth.ErrNoToken),
			"-ERR [AUTH] popwire: no token is stored for this account: run popwire auth login " + bridgeUser},
		{"refresh refused", fmt.Errorf("%w (Google app in Testing: refresh tokens expire after 7 days)", oauth.ErrRefreshRefused),
			"-ERR [AUTH] popwire: the provider refused the refresh token (Google app in Testing: refresh tokens expire after 7 days) (re-authorise: run popwire auth login " + bridgeUser + ")"},
		{"refresh refused, the fix named", fmt.Errorf("oauth: provider corp refused to refresh the token for %s (invalid_grant): run popwire auth login %s to authorise it again: %w", bridgeUser, bridgeUser, oauth.ErrRefreshRefused),
			"-ERR [AUTH] popwire: provider corp refused to refresh the token for " + bridgeUser + " (invalid_grant): run popwire auth login " + bridgeUser + " to authorise it again: " + oauth.ErrRefreshRefused.Error()},
		{"unreachable", fmt.Errorf("%w: dial tcp: connection refused", oauth.ErrUnreachable),
			"-ERR [SYS/TEMP] popwire: the OAuth provider cannot be reached; try again later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := oauthUpstream(t, oauth.XOAUTH2)
			src := newFakeSource()
			src.err = tc.err
			p := startProxy(t, Config{OAuth: src}, up.addr())
			c := p.dial(t, false)
			c.line(t)
			expectReplies(t, c, [2]string{"USER " + bridgeUser, "+OK"}, [2]string{"PASS " + bridgePassword, tc.want})
			sentence := tc.want[strings.Index(tc.want, "popwire: ")+len("popwire: "):]
			p.sink.find(t, "error", func(e logview.Event) bool { return e.Kind == logview.KindError && e.Err == "proxy: oauth: "+sentence })
			expectReplies(t, c, [2]string{"QUIT", "+OK bye"})
			if got := up.next(t).all(t); got != "QUIT\r\n" {
				t.Errorf("the upstream got %q", got)
			}
		})
	}
}

// TestBridgeMechanismOverride: Config.OAuthMechanism (serve --oauth-mechanism) replaces the
// mechanism an account was authorised for, in both directions.
func TestBridgeMechanismOverride(t *testing.T) {
	for _, tc := range []struct{ account, override oauth.Mechanism }{
		{oauth.XOAUTH2, oauth.OAUTHBEARER}, {oauth.OAUTHBEARER, oauth.XOAUTH2},
	} {
		t.Run(tc.override.String(), func(t *testing.T) {
			up := oauthUpstream(t, tc.override)
			src := newFakeSource()
			src.mech = tc.account
			p := startProxy(t, Config{OAuth: src, OAuthMechanism: &tc.override}, up.addr())
			c := p.dial(t, false)
			c.line(t)
			expectReplies(t, c, [2]string{"USER " + bridgeUser, "+OK"}, [2]string{"PASS " + bridgePassword, "+OK Logged in."})
		})
	}
}

func TestBridgeErrorChallenge(t *testing.T) {
	for _, mech := range []oauth.Mechanism{oauth.XOAUTH2, oauth.OAUTHBEARER} {
		t.Run(mech.String(), func(t *testing.T) {
			up := oauthUpstream(t, mech)
			src := newFakeSource()
			src.token = "expired-token"
			p := startProxy(t, Config{OAuth: src, OAuthMechanism: &mech}, up.addr())
			c := p.dial(t, false)
			c.line(t)
			expectReplies(t, c, [2]string{"USER " + bridgeUser, "+OK"}, [2]string{"PASS " + bridgePassword, "-ERR [AUTH] Invalid credentials."},
				[2]string{"QUIT", "+OK bye"})
			answer := ""
			if mech == oauth.OAUTHBEARER {
				answer = "AQ=="
			}
			want := "AUTH " + mech.String() + "\r\n" + mech.InitialResponse(bridgeUser, "expired-token") + "\r\n" + answer + "\r\nQUIT\r\n"
			if got := up.next(t).all(t); got != want {
				t.Errorf("the upstream got %q, want %q", got, want)
			}
			p.sink.find(t, "refusal", func(e logview.Event) bool {
				return e.Action == "oauth" && e.Text == `the server refused the token: status "401", scope "https://mail.google.com/"`
			})
		})
	}
}

func TestBridgeSourceBlocks(t *testing.T) {
	up := oauthUpstream(t, oauth.XOAUTH2)
	src := newFakeSource()
	src.block = true
	p := startProxy(t, Config{OAuth: src, LoginTimeout: 500 * time.Millisecond}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	c.send(t, "USER "+bridgeUser+"\r\nPASS "+bridgePassword+"\r\n")
	if rest := c.rest(t); !strings.HasPrefix(rest, "+OK\r\n") || strings.Contains(rest, "Logged in") {
		t.Errorf("the client got %q", rest)
	}
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
}

func TestBridgeTokenSecret(t *testing.T) {
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write("+OK ready\r\n")
		u.line()
		u.write("+ \r\n")
		blob, _ := u.line()
		blob = strings.TrimRight(blob, "\r\n")
		raw, _ := base64.StdEncoding.DecodeString(blob)
		u.write("-ERR [AUTH] rejected " + blob + " " + string(raw[:len(raw)-2]) + " " + bridgeToken + "\r\n")
		u.line()
	})
	p := startProxy(t, Config{OAuth: newFakeSource()}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	c.send(t, "USER "+bridgeUser+"\r\nPASS "+bridgePassword+"\r\n")
	c.line(t)
	if got := c.line(t); !strings.HasPrefix(got, "-ERR [AUTH] rejected") {
		t.Fatalf("PASS: %q", got)
	}
	c.Close()
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	p.sink.mu.Lock()
	events := append([]logview.Event(nil), p.sink.ev...)
	p.sink.mu.Unlock()
	blob := oauth.XOAUTH2.InitialResponse(bridgeUser, bridgeToken)
	raw, _ := base64.StdEncoding.DecodeString(blob)
	checkNoSecret(t, events, "", bridgePassword, []string{bridgeToken, b64(bridgeToken), blob, string(raw[:len(raw)-2])}, true)
}

// TestBridgeToPopserver logs in through the bridge to the embedded server, which refuses the
// one-line XOAUTH2 form as Microsoft does and checks the token, and fetches a message
// byte-exact.
func TestBridgeToPopserver(t *testing.T) {
	for _, mech := range []oauth.Mechanism{oauth.XOAUTH2, oauth.OAUTHBEARER} {
		t.Run(mech.String(), func(t *testing.T) {
			good, _ := pkis(t)
			store := &popserver.Store{}
			if err := store.Put(bridgeUser, popserver.SampleMailbox()...); err != nil {
				t.Fatal(err)
			}
			srv := &popserver.Server{Store: store, RejectInitialXOAUTH2: true,
				CheckToken: func(user, token string) bool { return user == bridgeUser && token == bridgeToken }}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() {
				served <- srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{good.leaf}}))
			}()
			t.Cleanup(func() { srv.Close(); <-served })
			p := startProxy(t, Config{OAuth: newFakeSource(), OAuthMechanism: &mech}, ln.Addr().String())
			c := p.dial(t, true)
			c.line(t)
			expectReplies(t, c, [2]string{"USER " + bridgeUser, "+OK"}, [2]string{"PASS " + bridgePassword, "+OK Logged in."})
			c.send(t, "RETR 1\r\n")
			if l := c.line(t); !strings.HasPrefix(l, "+OK") {
				t.Fatalf("RETR: %q", l)
			}
			var body strings.Builder
			for l := c.line(t); l != ".\r\n"; l = c.line(t) {
				body.WriteString(strings.TrimPrefix(l, "."))
			}
			if want := string(popserver.SampleMailbox()[0].Data); body.String() != want {
				t.Errorf("message 1: got %d bytes, want %d", body.Len(), len(want))
			}
			expectReplies(t, c, [2]string{"QUIT", "+OK Logging out."})
		})
	}
}

// TestBridgeSTLSAndLater: STLS is answered before the login as without the bridge, and once
// logged in no credential line goes upstream.
func TestBridgeSTLSAndLater(t *testing.T) {
	good, _ := pkis(t)
	up := oauthUpstream(t, oauth.XOAUTH2)
	p := startProxy(t, Config{OAuth: newFakeSource()}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	expectReplies(t, c, [2]string{"STLS", "+OK Begin TLS negotiation now."})
	tc := tls.Client(c.Conn, &tls.Config{RootCAs: good.pool, ServerName: "localhost"})
	c = &clientConn{Conn: tc, r: bufio.NewReader(tc)}
	expectReplies(t, c, [2]string{"USER " + bridgeUser, "+OK"}, [2]string{"PASS " + bridgePassword, "+OK Logged in."},
		[2]string{"PASS " + bridgePassword, "-ERR [AUTH] popwire: this line is not passed on: the OAuth bridge logs in upstream itself."},
		[2]string{"AUTH PLAIN", "-ERR [AUTH] popwire: this line is not passed on: the OAuth bridge logs in upstream itself."},
		[2]string{"STAT", "+OK 2 320"}, [2]string{"QUIT", "+OK bye"})
	want := "AUTH XOAUTH2\r\n" + oauth.XOAUTH2.InitialResponse(bridgeUser, bridgeToken) + "\r\nSTAT\r\nQUIT\r\n"
	if got := up.next(t).all(t); got != want {
		t.Errorf("the upstream got %q, want %q", got, want)
	}
}

// TestBridgeHideUsers: under HideUsers the account name reaches no event, not even in the
// sentence of a failed token.
func TestBridgeHideUsers(t *testing.T) {
	up := oauthUpstream(t, oauth.XOAUTH2)
	src := newFakeSource()
	src.err = fmt.Errorf("store: %w", oauth.ErrNoToken)
	p := startProxy(t, Config{OAuth: src, Log: LogOptions{HideUsers: true, UserKey: []byte("k")}}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	expectReplies(t, c, [2]string{"USER " + bridgeUser, "+OK"},
		[2]string{"PASS " + bridgePassword, "-ERR [AUTH] popwire: no token is stored for this account: run popwire auth login " + bridgeUser},
		[2]string{"QUIT", "+OK bye"})
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	p.sink.mu.Lock()
	events := append([]logview.Event(nil), p.sink.ev...)
	p.sink.mu.Unlock()
	for name, out := range allOutputs(t, events) {
		if strings.Contains(out, bridgeUser) || strings.Contains(out, "someone") {
			t.Errorf("%s output names the account:\n%s", name, out)
		}
	}
}

func TestBridgeRefusesTLSOnPlaintext(t *testing.T) {
	up := oauthUpstream(t, oauth.XOAUTH2)
	p := startProxy(t, Config{OAuth: newFakeSource()}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	c.send(t, "\x16\x03\x01\x00\x05hello\n")
	if rest := c.rest(t); rest != "" {
		t.Errorf("the client got %q", rest)
	}
	p.closeReason(t, "client spoke TLS on the plaintext listener")
}
