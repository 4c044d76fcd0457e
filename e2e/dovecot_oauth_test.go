package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/oauthtest"
	"golang.org/x/oauth2"
)

// Mailbox users of the OAuth Dovecot, all with the full mailbox (no test deletes). Each test
// owns its users; they are addresses because an OAuth account is one.
const (
	oauthUserXOAUTH2       = "xoauth2@example.test"     // Dovecot directly, AUTH XOAUTH2
	oauthUserOAUTHBEARER   = "oauthbearer@example.test" // Dovecot directly, AUTH OAUTHBEARER
	oauthUserDevice        = "device@example.test"      // auth login with the device flow
	oauthUserLoopback      = "loopback@example.test"    // auth login with the loopback flow, OAUTHBEARER
	oauthUserPasted        = "pasted@example.test"      // auth login with a pasted redirect URL
	oauthUserExpiry        = "expiry@example.test"      // an expired access token, 20 sessions
	oauthUserRotate        = "rotate@example.test"      // a rotated refresh token
	oauthUserRevoke        = "revoke@example.test"      // a revoked refresh token
	oauthUserWrongPassword = "wrongpw@example.test"     // a wrong local password
	oauthUserNoToken       = "notoken@example.test"     // never authorised
	oauthUserDown          = "down@example.test"        // the provider is down
	oauthUserTwoStep       = "twostep@example.test"     // an upstream that demands two-step XOAUTH2

	oauthUserRefusedXOAUTH2     = "refused-xoauth2@example.test"     // Dovecot refuses the token (XOAUTH2)
	oauthUserRefusedOAUTHBEARER = "refused-oauthbearer@example.test" // Dovecot refuses the token (OAUTHBEARER)
	oauthUserLogout             = "logout@example.test"              // auth list, auth logout
)

var oauthUsers = []string{oauthUserXOAUTH2, oauthUserOAUTHBEARER, oauthUserDevice, oauthUserLoopback,
	oauthUserPasted, oauthUserExpiry, oauthUserRotate, oauthUserRevoke, oauthUserWrongPassword,
	oauthUserNoToken, oauthUserDown, oauthUserTwoStep, oauthUserRefusedXOAUTH2, oauthUserRefusedOAUTHBEARER, oauthUserLogout}

// introspectionClientID is the client_id the oauth2 passdb sends with each introspection.
const introspectionClientID = "popwire-e2e-dovecot"

// introspector answers one RFC 7662 introspection request (the form Dovecot posted): the
// JSON object of the answer, or false when it does not know the token.
type introspector func(form url.Values) (map[string]any, bool)

// introspection is the RFC 7662 endpoint the OAuth Dovecot's passdb asks. Dovecot is started
// once per run with one introspection_url, while each test brings its own authorization
// server: the endpoint asks every registered introspector and answers with the first that
// says the token is active, else {"active":false}.
type introspection struct {
	srv *httptest.Server

	mu    sync.Mutex           // guards the fields below
	byID  map[int]introspector // the registered introspectors
	next  int                  // the id of the next registration
	asked int                  // introspection requests answered so far
}

func newIntrospection() *introspection {
	in := &introspection{byID: map[int]introspector{}}
	in.srv = httptest.NewServer(http.HandlerFunc(in.serve))
	return in
}

// url is the introspection_url Dovecot is configured with.
func (in *introspection) url() string { return in.srv.URL + "/introspect" }

// register adds f for the rest of t.
func (in *introspection) register(t *testing.T, f introspector) {
	t.Helper()
	in.mu.Lock()
	id := in.next
	in.next++
	in.byID[id] = f
	in.mu.Unlock()
	t.Cleanup(func() {
		in.mu.Lock()
		delete(in.byID, id)
		in.mu.Unlock()
	})
}

func (in *introspection) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/introspect" {
		http.Error(w, "want POST /introspect", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in.mu.Lock()
	in.asked++
	all := make([]introspector, 0, len(in.byID))
	for _, f := range in.byID {
		all = append(all, f)
	}
	in.mu.Unlock()
	answer := map[string]any{"active": false}
	for _, f := range all {
		if a, ok := f(r.PostForm); ok && a["active"] == true {
			answer = a
			break
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(answer); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// authServer starts an oauthtest authorization server for the rest of t whose introspection
// the OAuth Dovecot asks. opts.IntrospectionClientID is set to Dovecot's client_id.
func authServer(t *testing.T, in *introspection, opts oauthtest.Options) *oauthtest.Server {
	t.Helper()
	opts.IntrospectionClientID = introspectionClientID
	srv, err := oauthtest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 10 * time.Second}
	in.register(t, func(form url.Values) (map[string]any, bool) {
		resp, err := client.PostForm(srv.IntrospectionURL(), form)
		if err != nil {
			return nil, false
		}
		defer resp.Body.Close()
		var answer map[string]any
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&answer) != nil {
			return nil, false
		}
		return answer, true
	})
	return srv
}

// issueToken gets srv to issue a token for user with the authorization-code flow and PKCE,
// as a test that talks to Dovecot directly needs one.
func issueToken(t *testing.T, srv *oauthtest.Server, user string) *oauth2.Token {
	t.Helper()
	cfg := &oauth2.Config{ClientID: "popwire-e2e-direct", Endpoint: srv.Endpoint(),
		RedirectURL: "http://127.0.0.1:9/callback", Scopes: []string{"pop"}}
	verifier := oauth2.GenerateVerifier()
	noFollow := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(cfg.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("login_hint", user)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorization answered %s without a redirect: %v", resp.Status, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// oauthDovecotInstance returns the run's OAuth Dovecot and its introspection endpoint,
// starting both on first use, or skips/fails t. Its only passdb is oauth2 for XOAUTH2 and
// OAUTHBEARER: a USER/PASS or AUTH PLAIN login, whatever the password, fails.
func oauthDovecotInstance(t *testing.T) (*dovecot, *introspection) {
	t.Helper()
	if _, err := os.Stat(dovecotBinary()); err != nil {
		missing(t, "dovecot (Debian dovecot-core, dovecot-pop3d) not installed")
	}
	suite.oauthOnce.Do(func() {
		in := newIntrospection()
		d := &dovecot{dir: filepath.Join(suite.root, "dovecot-oauth"), fullUsers: oauthUsers}
		args := filepath.Join(suite.root, "dovecot-oauth2.conf.ext")
		suite.oauthErr = os.WriteFile(args, []byte(oauth2Args(in.url())), 0o644)
		d.auth = oauthAuth(args)
		if suite.oauthErr == nil {
			suite.oauthErr = d.start()
		}
		suite.oauthDovecot, suite.introspection = d, in
		if suite.oauthErr != nil {
			suite.oauthErr = fmt.Errorf("%w\n--- Dovecot log ---\n%s", suite.oauthErr, d.logText())
		}
	})
	if suite.oauthErr != nil {
		t.Fatal(suite.oauthErr)
	}
	return suite.oauthDovecot, suite.introspection
}

// oauth2Args renders dovecot-oauth2.conf.ext: RFC 7662 introspection by form POST of
// token=, no tokeninfo, the user named by "username", a token valid only while "active" is
// true.
func oauth2Args(introspectionURL string) string {
	return fmt.Sprintf(`tokeninfo_url =
introspection_url = %s
introspection_mode = post
client_id = %s
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 20000
`, introspectionURL, introspectionClientID)
}

// oauthAuth is the authentication part of the OAuth Dovecot's dovecot.conf. PLAIN and LOGIN
// are offered (as a real provider's server offers them) but no passdb answers them (a temporary
// failure); auth_verbose logs each login with its mechanism. No auth_debug: it logs the token
// (the oauth2 passdb returns it as an extra field).
func oauthAuth(argsPath string) string {
	return fmt.Sprintf(`auth_mechanisms = plain login xoauth2 oauthbearer
auth_verbose = yes
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %s
}
`, argsPath)
}

// loginLine matches Dovecot's log line of a successful POP3 login and captures the user
// and the mechanism.
var loginLine = regexp.MustCompile(`pop3-login: Info: Login: user=<([^>]*)>, method=([A-Z0-9-]+),`)

// loginMethods returns the mechanism of each successful login of user in Dovecot's log
// after its first since bytes (a test's own logins, also when go test -count runs it again),
// in order.
func (d *dovecot) loginMethods(since int, user string) []string {
	var methods []string
	log := d.logText()
	for _, m := range loginLine.FindAllStringSubmatch(log[min(since, len(log)):], -1) {
		if m[1] == user {
			methods = append(methods, m[2])
		}
	}
	return methods
}

// waitLogins waits up to 10 s (log lines travel through Dovecot's log process) for Dovecot's
// log (after its first since bytes) to show a number of logins of user that count accepts,
// each with mechanism (any case); want describes the number in the failure.
func (d *dovecot) waitLogins(t *testing.T, since int, user, mechanism, want string, count func(int) bool) {
	t.Helper()
	mechanism = strings.ToUpper(mechanism)
	deadline := time.Now().Add(10 * time.Second)
	for {
		methods := d.loginMethods(since, user)
		others := slices.ContainsFunc(methods, func(m string) bool { return m != mechanism })
		if !others && count(len(methods)) {
			return
		}
		if others || time.Now().After(deadline) {
			t.Errorf("Dovecot logged the logins of %s with methods %v, want %s with %s", user, methods, want, mechanism)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDovecotOAuthDirect checks the OAuth Dovecot itself: poplib logs in with AUTH XOAUTH2
// and with AUTH OAUTHBEARER (each in two steps) with a bearer token that oauthtest issued and
// vouches for by introspection, fetches every message byte-exact, and Dovecot logs the mechanism of
// each login and never the token. The same token as a USER/PASS password is refused.
func TestDovecotOAuthDirect(t *testing.T) {
	t.Parallel()
	py := python(t)
	d, in := oauthDovecotInstance(t)
	srv := authServer(t, in, oauthtest.Options{})
	tokens := map[string]string{}
	for _, u := range []string{oauthUserXOAUTH2, oauthUserOAUTHBEARER} {
		tokens[u] = issueToken(t, srv, u).AccessToken
	}

	for _, tc := range []struct{ user, mechanism string }{
		{oauthUserXOAUTH2, "XOAUTH2"},
		{oauthUserOAUTHBEARER, "OAUTHBEARER"},
	} {
		t.Run(tc.mechanism, func(t *testing.T) {
			since := len(d.logText())
			got := poplibFetchEnv(t, py, "ssl", d.tlsPort, d.ca.CertPEM, tc.user,
				"POP_SASL="+tc.mechanism, "POP_TOKEN="+tokens[tc.user])
			checkFullMailbox(t, d, got)
			d.waitLogins(t, since, tc.user, tc.mechanism, "1", func(n int) bool { return n == 1 })
		})
	}

	p, err := dialPOP(loopback(d.tlsPort), d.ca.CertPEM, serverName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.cmd("USER %s", oauthUserXOAUTH2); err != nil {
		t.Fatal(err)
	}
	if l, err := p.cmd("PASS %s", tokens[oauthUserXOAUTH2]); err == nil {
		t.Errorf("a token as a USER/PASS password was accepted: %q", l)
	}
	p.conn.Close()

	srv.ExpireAccessTokens()
	out, err := runCmd(time.Minute, append(os.Environ(), "POP_SASL=XOAUTH2", "POP_TOKEN="+tokens[oauthUserXOAUTH2]),
		py, poplibScript(t), "ssl", "127.0.0.1", fmt.Sprint(d.tlsPort), d.ca.CertPEM, oauthUserXOAUTH2, t.TempDir())
	if err == nil || !strings.Contains(string(out), "-ERR [AUTH]") || !strings.Contains(string(out), `"status":"401"`) {
		t.Errorf("an expired token: %v, want XOAUTH2 refused with a 401 challenge and -ERR [AUTH]\n%s", err, out)
	}

	log := d.logText()
	for u, tok := range tokens {
		if strings.Contains(log, tok) {
			t.Errorf("Dovecot's log contains the token of %s", u)
		}
	}
}

// checkFullMailbox requires got (poplib's or curl's outputs) to hold each message of the full
// mailbox byte-exact, and the list, uidl and top1 outputs.
func checkFullMailbox(t *testing.T, d *dovecot, got map[string][]byte) {
	t.Helper()
	if len(got) != len(d.full)+3 {
		t.Errorf("%d outputs, want %d", len(got), len(d.full)+3)
	}
	checkMailbox(t, "the full mailbox", got, d.full)
}
