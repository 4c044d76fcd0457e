package probe

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/popclient/popclienttest"
	"github.com/popwire/popwire/internal/popserver"
)

const probeToken = "ya29.probe-token-9f8e"

// tokenSource is a fake oauth.Source: token for testUser with testPassword, else err or a
// wrong-password error.
type tokenSource struct {
	token string
	err   error
	mech  oauth.Mechanism // the account's
}

func (s tokenSource) Token(_ context.Context, account, password string) (oauth.Access, error) {
	switch {
	case s.err != nil:
		return oauth.Access{}, s.err
	case account != testUser || password != testPassword:
		return oauth.Access{}, fmt.Errorf("fake: %w", oauth.ErrWrongPassword)
	}
	return oauth.Access{Token: s.token, Scope: "https://outlook.office.com/POP.AccessAsUser.All", Expiry: time.Now().Add(time.Hour), Mechanism: s.mech}, nil
}

// startPopserver serves the embedded server over implicit TLS with certs, taking probeToken
// for testUser and only the two-step XOAUTH2 form, as Microsoft does.
func startPopserver(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	store := &popserver.Store{}
	if err := store.Put(testUser, popserver.SampleMailbox()...); err != nil {
		t.Fatal(err)
	}
	srv := &popserver.Server{Store: store, RejectInitialXOAUTH2: true, TokenScope: "https://outlook.office.com/POP.AccessAsUser.All",
		CheckToken: func(user, token string) bool { return user == testUser && token == probeToken }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

func TestOAuthLogin(t *testing.T) {
	good := popclienttest.NewCerts(t, false, "pop.test", "127.0.0.1")
	for _, tc := range []struct {
		name    string
		mech    oauth.Mechanism
		src     tokenSource
		ok      bool
		want    []string // in the text report
		wantOut []string // not in it
		// override: the account was authorised for the other mechanism and
		// Options.OAuthMechanism says mech; otherwise mech is the account's own.
		override bool
	}{
		{"XOAUTH2", oauth.XOAUTH2, tokenSource{token: probeToken}, true,
			[]string{"logged in as alice with AUTH XOAUTH2 (two-step)", "token scope: https://outlook.office.com/POP.AccessAsUser.All", "token expires: 20", "12 messages"}, nil, false},
		{"OAUTHBEARER", oauth.OAUTHBEARER, tokenSource{token: probeToken}, true, []string{"with AUTH OAUTHBEARER (two-step)"}, nil, false},
		{"refused token", oauth.XOAUTH2, tokenSource{token: "expired-token"}, false,
			[]string{`the server refused the token: status "401", scope "https://outlook.office.com/POP.AccessAsUser.All"`, "[AUTH] Authentication failed"},
			[]string{"expired-token"}, false},
		{"refused token OAUTHBEARER", oauth.OAUTHBEARER, tokenSource{token: "expired-token"}, false,
			[]string{`status "invalid_token"`}, []string{"expired-token"}, false},
		{"no token", oauth.XOAUTH2, tokenSource{err: fmt.Errorf("store: %w", oauth.ErrNoToken)}, false,
			[]string{"no access token for alice", "run popwire auth login alice first"}, nil, false},
		{"refresh refused", oauth.XOAUTH2, tokenSource{err: fmt.Errorf("store: %w", oauth.ErrRefreshRefused)}, false,
			[]string{"run popwire auth login alice again"}, nil, false},
		{"OAUTHBEARER asked for", oauth.OAUTHBEARER, tokenSource{token: probeToken}, true, []string{"with AUTH OAUTHBEARER (two-step)"}, nil, true},
		{"XOAUTH2 asked for", oauth.XOAUTH2, tokenSource{token: probeToken}, true, []string{"with AUTH XOAUTH2 (two-step)"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			src.mech = tc.mech
			o := Options{Addr: startPopserver(t, good.Server.Certificates[0]), ServerName: "pop.test", RootCAs: good.Pool,
				User: testUser, Password: testPassword, OAuth: src, Timeout: 5 * time.Second}
			if tc.override {
				src.mech = oauth.OAUTHBEARER - tc.mech // the other one
				o.OAuth, o.OAuthMechanism = src, &tc.mech
			}
			r := Run(context.Background(), o)
			text, js := render(t, r)
			if r.OK != tc.ok {
				t.Fatalf("OK = %v, want %v\n%s", r.OK, tc.ok, text)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("no %q in\n%s", w, text)
				}
			}
			blob := tc.mech.InitialResponse(testUser, probeToken)
			raw, _ := base64.StdEncoding.DecodeString(blob)
			for _, out := range []string{text, js} {
				for _, secret := range append(tc.wantOut, probeToken, base64.StdEncoding.EncodeToString([]byte(probeToken)), blob, string(raw), testPassword) {
					if strings.Contains(out, secret) {
						t.Errorf("output holds %q:\n%s", secret, out)
					}
				}
			}
			if last := r.Steps[len(r.Steps)-1]; last.Name != StepQUIT || !last.OK {
				t.Errorf("the probe did not end with QUIT:\n%s", text)
			}
		})
	}
}

func TestProviderHints(t *testing.T) {
	good := popclienttest.NewCerts(t, false, "pop.test", "127.0.0.1")
	for _, tc := range []struct {
		name, verb, reply, hint string
	}{
		{"Microsoft one-line XOAUTH2", "AUTH", "-ERR Protocol error. Connection is closed. 10\r\n", "two-step form"},
		{"Microsoft throttling", "AUTH", "-ERR Server Unavailable. 21\r\n", "throttling"},
		{"Gmail POP disabled", "AUTH", "-ERR [SYS/PERM] Your account is not enabled for POP access.\r\n", "Enable POP"},
		{"Gmail bad password", "AUTH", "-ERR [AUTH] Username and password not accepted.\r\n", "log in with OAuth"},
		{"Gmail app password", "AUTH", "-ERR [AUTH] Application-specific password required: https://support.google.com/accounts/answer/185833\r\n", "or log in with OAuth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := popclienttest.Start(t, popclienttest.Config{TLS: good.Server, Replies: okScript(map[string]string{tc.verb: tc.reply})})
			r := Run(context.Background(), Options{Addr: srv.Addr, ServerName: "pop.test", RootCAs: good.Pool, User: testUser, Password: testPassword, Timeout: 5 * time.Second})
			text, _ := render(t, r)
			if !strings.Contains(text, tc.hint) {
				t.Errorf("no hint %q in\n%s", tc.hint, text)
			}
		})
	}
}
