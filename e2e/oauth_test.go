package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/oauthtest"
	"golang.org/x/oauth2"
)

// The bridge tests run `popwire auth login ACCOUNT --provider e2e …` against an oauthtest
// server, then `popwire serve --oauth e2e …` in front of the OAuth Dovecot, and log in as a
// legacy mail client would: USER/PASS (or curl's AUTH PLAIN) with the account and its local
// password. Dovecot only takes XOAUTH2 and OAUTHBEARER, so every login that succeeds went
// through the bridge.

// oauthProvider is the name of the tests' custom provider, given by its endpoints.
const oauthProvider = "e2e"

// oauthClientID is the client_id popwire is registered with at every oauthtest server.
const oauthClientID = "popwire-e2e-client"

// oauthCase is one account of a bridge test: the oauthtest server that authorises it, the
// OAuth Dovecot that holds its mail, its own token store, and the local password its mail
// client is configured with.
type oauthCase struct {
	d            *dovecot
	srv          *oauthtest.Server
	account      string
	password     string    // the local password chosen at `auth login` (POPWIRE_PASSWORD)
	mechanism    string    // --oauth-mechanism: "xoauth2" or "oauthbearer"
	clientSecret string    // POPWIRE_OAUTH_CLIENT_SECRET (kept off command lines, which tests log)
	xdg          string    // XDG_CONFIG_HOME of this case's popwire processes: its token store
	secrets      []string  // more secrets no output may show (a wrong password tried)
	loggedIn     time.Time // when the last auth login of the case ended
	logStart     int       // the length of Dovecot's log when the case began: its logins come after
}

// shortLife is the access-token lifetime of cases whose stored token must have expired when
// a session needs it: popwire refreshes a token within 5 minutes or half its lifetime of its
// expiry, so a test waits for the expiry itself (awaitExpiry) rather than guess that margin.
// It is long enough for Dovecot to introspect a token popwire has just got.
const shortLife = 3 * time.Second

// awaitExpiry waits until every access token issued before since with lifetime life has
// expired.
func awaitExpiry(since time.Time, life time.Duration) {
	time.Sleep(time.Until(since.Add(life)))
}

// newOAuthCase starts an oauthtest server for account (a confidential client; device codes
// approved for account after one pending poll) and registers a check, run after every popwire
// process of t has ended, that no file of the case's popwire config directory holds a secret.
func newOAuthCase(t *testing.T, account, mechanism string, opts oauthtest.Options) *oauthCase {
	t.Helper()
	d, in := oauthDovecotInstance(t)
	c := &oauthCase{d: d, account: account, mechanism: mechanism, password: "local pw " + rand.Text(),
		clientSecret: "client-secret-" + rand.Text(), xdg: t.TempDir(), logStart: len(d.logText())}
	opts.ClientID, opts.ClientSecret, opts.User = oauthClientID, c.clientSecret, account
	if opts.DevicePolls == 0 {
		opts.DevicePolls = 1
	}
	c.srv = authServer(t, in, opts)
	t.Cleanup(func() { c.checkFiles(t, false) })
	return c
}

// providerFlags are the flags that describe the provider to `auth login`.
func (c *oauthCase) providerFlags() []string {
	return append(c.refreshFlags(),
		"--oauth-auth-url", c.srv.AuthURL(),
		"--oauth-device-url", c.srv.DeviceURL(),
		"--oauth-revoke-url", c.srv.RevocationURL(),
		"--oauth-scope", "pop",
	)
}

// refreshFlags are the provider flags `serve --oauth` takes: those a refresh uses.
func (c *oauthCase) refreshFlags() []string {
	return []string{
		"--oauth-token-url", c.srv.TokenURL(),
		"--oauth-client-id", oauthClientID,
		"--oauth-mechanism", c.mechanism,
	}
}

// env is what the case's popwire processes add to popwireEnv: the case's config home and the
// client secret.
func (c *oauthCase) env() []string {
	return []string{"XDG_CONFIG_HOME=" + c.xdg, "POPWIRE_OAUTH_CLIENT_SECRET=" + c.clientSecret}
}

// approval is how a test plays the person who authorises popwire at the provider.
type approval int

const (
	// approveDevice opens the verification URI the device flow printed.
	approveDevice approval = iota
	// approveBrowser follows the printed authorization URL as a browser would, redirects
	// included, so that the provider's redirect lands on popwire's loopback listener.
	approveBrowser
	// approvePaste follows the printed authorization URL without the last redirect and pastes
	// the redirect URL into popwire's standard input, as a person on a machine without a
	// browser does.
	approvePaste
)

// login runs `popwire auth login` for the case's account with flow ("device" or "loopback")
// and --no-browser, plays the person as how says, and requires exit status 0 within two
// minutes and no secret in popwire's output.
func (c *oauthCase) login(t *testing.T, flow string, how approval) {
	t.Helper()
	args := append([]string{"auth", "login", c.account, "--provider", oauthProvider}, c.providerFlags()...)
	args = append(args, "--flow", flow, "--no-browser")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, popwireBinary(t), args...)
	cmd.Env = append(append(popwireEnv(), c.env()...), "POPWIRE_PASSWORD="+c.password)
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW := io.Pipe()
	cmd.Stdout, cmd.Stderr = outW, outW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go readLines(outR, lines)
	waited := make(chan error, 1)
	go waitThenClose(cmd, outW, waited)

	prompt := regexp.MustCompile(regexp.QuoteMeta(c.srv.AuthURL()) + `\?\S+`)
	if how == approveDevice {
		prompt = regexp.MustCompile(regexp.QuoteMeta(c.srv.URL+"/activate") + `\S*`)
	}
	var out strings.Builder
	approved := false
	for l := range lines {
		out.WriteString(l + "\n")
		u := prompt.FindString(l)
		if approved || u == "" {
			continue
		}
		approved = true
		if err := c.approve(how, u, stdin); err != nil {
			t.Errorf("approving the authorization: %v", err)
		}
	}
	err = <-waited
	c.checkNoSecrets(t, "auth login output", out.String())
	if !approved {
		t.Fatalf("popwire auth login printed no URL to approve (%v)\n%s", err, out.String())
	}
	if err != nil {
		t.Fatalf("popwire auth login: %v\n%s", err, out.String())
	}
	c.loggedIn = time.Now()
}

// approve approves the authorization at u as how says; stdin is popwire's standard input.
func (c *oauthCase) approve(how approval, u string, stdin io.WriteCloser) error {
	browser := &http.Client{Timeout: 30 * time.Second}
	switch how {
	case approveDevice, approveBrowser:
		resp, err := browser.Get(u)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			// Only host and path: the query of the last redirect holds the authorization code.
			return fmt.Errorf("e2e: %s%s answered %s", resp.Request.URL.Host, resp.Request.URL.Path, resp.Status)
		}
		return nil
	default:
		browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := browser.Get(u)
		if err != nil {
			return err
		}
		resp.Body.Close()
		redirect, err := resp.Location()
		if err != nil {
			return fmt.Errorf("e2e: the authorization endpoint answered %s: %w", resp.Status, err)
		}
		_, err = io.WriteString(stdin, redirect.String()+"\n")
		return err
	}
}

// readLines sends each line r yields to lines and closes lines at the end of r.
func readLines(r io.Reader, lines chan<- string) {
	defer close(lines)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines <- sc.Text()
	}
	_, _ = io.Copy(io.Discard, r) // a line too long for the scanner must not block the writer
}

// waitThenClose waits for cmd, closes its output pipe w so that the reader ends, and sends
// Wait's result.
func waitThenClose(cmd *exec.Cmd, w *io.PipeWriter, waited chan<- error) {
	err := cmd.Wait()
	w.Close()
	waited <- err
}

// serve starts `popwire serve --oauth e2e` with the case's provider flags and token store in
// front of the OAuth Dovecot (implicit TLS unless o says otherwise), with a JSON log. When t
// ends, after popwire has stopped, neither its output nor its JSON log may show a secret; a
// failed test logs the end of the JSON log.
func (c *oauthCase) serve(t *testing.T, o popwireOpts) *popwireProc {
	t.Helper()
	var pw *popwireProc
	t.Cleanup(func() { // registered first, so it runs after startPopwire's stop
		if pw == nil {
			return
		}
		c.checkNoSecrets(t, "popwire serve output", pw.output())
		data, err := os.ReadFile(pw.jsonLog)
		if err != nil {
			return
		}
		c.checkNoSecrets(t, "popwire serve JSON log", string(data))
		if t.Failed() {
			lines := strings.SplitAfter(string(data), "\n")
			t.Logf("--- the end of popwire's JSON log ---\n%s--- end ---", strings.Join(lines[max(0, len(lines)-30):], ""))
		}
	})
	o.args = append(append([]string{"--oauth", oauthProvider}, c.refreshFlags()...), o.args...)
	o.env = append(o.env, c.env()...)
	o.logFile = true
	pw = startPopwire(t, c.d, o)
	return pw
}

// secretForms returns every secret of the case in the forms an output could show: the local
// password, every secret oauthtest issued or was shown (tokens, codes, device codes, PKCE
// verifiers, the client secret), each in base64, and the XOAUTH2 and OAUTHBEARER responses
// of each token.
func (c *oauthCase) secretForms() []string {
	var out []string
	for _, s := range append(append([]string{c.password}, c.secrets...), c.srv.Secrets()...) {
		out = append(out, s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)))
		for _, m := range []oauth.Mechanism{oauth.XOAUTH2, oauth.OAUTHBEARER} {
			out = append(out, m.InitialResponse(c.account, s))
		}
	}
	return out
}

// checkNoSecrets fails t when text (named what) contains any form of a secret of the case.
func (c *oauthCase) checkNoSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range c.secretForms() {
		if strings.Contains(text, s) {
			t.Errorf("%s contains a secret (%d bytes starting %.8q)", what, len(s), s)
		}
	}
}

// checkFiles requires no file of the case's popwire config directory to hold a secret in the
// clear and, with modes, every directory to be mode 0700 and every file 0600 (true of the
// token store; serve adds the local CA's certificates, mode 0644).
func (c *oauthCase) checkFiles(t *testing.T, modes bool) {
	t.Helper()
	root := filepath.Join(c.xdg, "popwire")
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case !modes:
		case e.IsDir() && info.Mode().Perm() != 0o700:
			t.Errorf("%s: mode %v, want a directory of mode 0700", path, info.Mode().Perm())
		case e.Type().IsRegular() && info.Mode().Perm() != 0o600:
			t.Errorf("%s: mode %v, want 0600", path, info.Mode().Perm())
		}
		if e.Type().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			c.checkNoSecrets(t, path, string(data))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Error(err)
	}
}

// storeFiles returns the regular files of the case's popwire config directory.
func (c *oauthCase) storeFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(c.xdg, "popwire"), func(path string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatalf("e2e: the token store after auth login: %v", err)
	}
	return files
}

// activeRefreshTokens returns the refresh tokens oauthtest still accepts.
func (c *oauthCase) activeRefreshTokens() []string {
	var out []string
	for _, s := range c.srv.Secrets() {
		if strings.HasPrefix(s, "refresh-") && c.srv.Active(s) {
			out = append(out, s)
		}
	}
	return out
}

// bridgeLogin opens a plaintext session to addr and sends USER and PASS; it returns the
// session and the answer to PASS (an -ERR is in the error).
func bridgeLogin(addr, user, pass string) (*popClient, string, error) {
	p, err := dialPOP(addr, "", "")
	if err != nil {
		return nil, "", err
	}
	if l, err := p.cmd("USER %s", user); err != nil {
		p.conn.Close()
		return nil, l, err
	}
	l, err := p.cmd("PASS %s", pass)
	if err != nil {
		p.conn.Close()
		return nil, l, err
	}
	return p, l, nil
}

// fetchOne logs in to addr through the bridge, retrieves message 1, requires it equal to
// want, and quits.
func fetchOne(addr, user, pass string, want []byte) error {
	p, l, err := bridgeLogin(addr, user, pass)
	if err != nil {
		return fmt.Errorf("login: %q: %w", l, err)
	}
	got, err := p.multi("RETR 1")
	if err != nil {
		p.conn.Close()
		return err
	}
	if sum(got) != sum(want) {
		p.conn.Close()
		return fmt.Errorf("e2e: RETR 1: %d bytes, want %d", len(got), len(want))
	}
	return p.quit()
}

// refusedLogin logs in through the bridge and requires the answer to PASS to start with
// prefix; it returns that answer.
func refusedLogin(t *testing.T, addr, user, pass, prefix string) string {
	t.Helper()
	p, l, err := bridgeLogin(addr, user, pass)
	if err == nil {
		p.conn.Close()
		t.Fatalf("PASS answered %q, want %s…", l, prefix)
	}
	if !strings.HasPrefix(l, prefix) {
		t.Fatalf("PASS answered %q (%v), want %s…", l, err, prefix)
	}
	return l
}

// wantLogins requires Dovecot's log to show exactly n logins of the case's account, each
// with the case's mechanism, waiting up to 10 s for lines still on their way to the log.
func (c *oauthCase) wantLogins(t *testing.T, n int) {
	t.Helper()
	c.d.waitLogins(t, c.logStart, c.account, c.mechanism, fmt.Sprint(n), func(got int) bool { return got == n })
}

// wantLoginsAtLeast is wantLogins for n or more logins.
func (c *oauthCase) wantLoginsAtLeast(t *testing.T, n int) {
	t.Helper()
	c.d.waitLogins(t, c.logStart, c.account, c.mechanism, fmt.Sprintf("%d or more", n), func(got int) bool { return got >= n })
}

// TestOAuthFirstLogin authorises an account with `popwire auth login` (the device flow, the
// loopback flow with the redirect landing on popwire's listener, and the loopback flow with
// the redirect URL pasted), then a legacy client logs in through `serve --oauth` with the
// account and the local password: curl (AUTH PLAIN) and poplib (USER/PASS) fetch every
// message byte-exact, and Dovecot logs each session's login with XOAUTH2, or OAUTHBEARER when
// the provider is configured so. The token store is private and holds no secret in the
// clear.
func TestOAuthFirstLogin(t *testing.T) {
	t.Parallel()
	curl := needTool(t, "curl")
	py := python(t)
	for _, tc := range []struct {
		name, account, flow, mechanism string
		how                            approval
		grant                          string
	}{
		{"device", oauthUserDevice, "device", "xoauth2", approveDevice, oauthtest.GrantDeviceCode},
		{"loopback", oauthUserLoopback, "loopback", "oauthbearer", approveBrowser, oauthtest.GrantAuthorizationCode},
		{"pasted", oauthUserPasted, "loopback", "xoauth2", approvePaste, oauthtest.GrantAuthorizationCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newOAuthCase(t, tc.account, tc.mechanism, oauthtest.Options{})
			c.login(t, tc.flow, tc.how)
			if n := c.srv.Served(tc.grant); n != 1 {
				t.Fatalf("oauthtest issued %d tokens for grant %s, want 1", n, tc.grant)
			}
			if files := c.storeFiles(t); len(files) == 0 {
				t.Fatalf("auth login stored no file under %s/popwire", c.xdg)
			}
			c.checkFiles(t, true)
			pw := c.serve(t, popwireOpts{})

			checkFullMailbox(t, c.d, poplibFetchEnv(t, py, "plain", pw.plainPort, "", c.account, "POP_PASSWORD="+c.password))
			c.wantLogins(t, 1)
			checkFullMailbox(t, c.d, curlFetchAs(t, curl, "pop3://"+pw.plainAddr, c.account, c.password))
			c.wantLoginsAtLeast(t, 2)
		})
	}
}

// TestOAuthExpiredAccessToken authorises an account whose access token then expires, as one
// does in the middle of the day, and opens 20 sessions at once through the bridge: all of them
// get their mail, Dovecot logs 20 XOAUTH2 logins, and oauthtest served exactly one refresh.
func TestOAuthExpiredAccessToken(t *testing.T) {
	t.Parallel()
	c := newOAuthCase(t, oauthUserExpiry, "xoauth2", oauthtest.Options{AccessLifetime: shortLife})
	c.login(t, "device", approveDevice)
	c.srv.SetAccessLifetime(time.Hour)
	awaitExpiry(c.loggedIn, shortLife)
	pw := c.serve(t, popwireOpts{})

	const sessions = 20
	errs := make(chan error, sessions)
	for range sessions {
		go fetchInto(pw.plainAddr, c.account, c.password, c.d.full[0].served(), errs)
	}
	for range sessions {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := c.srv.Refreshes(); n != 1 {
		t.Errorf("oauthtest served %d refreshes for %d concurrent sessions, want 1", n, sessions)
	}
	c.wantLogins(t, sessions)
}

// fetchInto runs fetchOne and sends its result to errs.
func fetchInto(addr, user, pass string, want []byte, errs chan<- error) {
	errs <- fetchOne(addr, user, pass, want)
}

// TestOAuthRotatedRefreshToken lets the bridge refresh an access token at a provider that
// rotates refresh tokens: the old refresh token is refused from then on, and a second serve
// process (nothing in memory) refreshes with the rotated one, which it can only have from the
// store.
func TestOAuthRotatedRefreshToken(t *testing.T) {
	t.Parallel()
	c := newOAuthCase(t, oauthUserRotate, "xoauth2", oauthtest.Options{AccessLifetime: shortLife})
	c.login(t, "device", approveDevice)
	awaitExpiry(c.loggedIn, shortLife)
	first := c.activeRefreshTokens()
	if len(first) != 1 {
		t.Fatalf("after auth login oauthtest accepts %d refresh tokens, want 1", len(first))
	}
	want := c.d.full[0].served()

	pw := c.serve(t, popwireOpts{})
	if err := fetchOne(pw.plainAddr, c.account, c.password, want); err != nil {
		t.Fatal(err)
	}
	refreshed := time.Now()
	pw.stop(t)
	second := c.activeRefreshTokens()
	if n := c.srv.Refreshes(); n != 1 || len(second) != 1 || second[0] == first[0] {
		t.Fatalf("after the first refresh: %d refreshes, %d refresh tokens accepted (rotated: %v), want 1, 1, true",
			n, len(second), len(second) == 1 && second[0] != first[0])
	}
	cfg := oauth2.Config{ClientID: oauthClientID, ClientSecret: c.clientSecret, Endpoint: c.srv.Endpoint()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: first[0], Expiry: time.Now().Add(-time.Hour)}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("a refresh with the rotated-out refresh token: %v, want invalid_grant", err)
	}

	awaitExpiry(refreshed, shortLife)
	pw = c.serve(t, popwireOpts{})
	if err := fetchOne(pw.plainAddr, c.account, c.password, want); err != nil {
		t.Fatalf("a new serve process after the rotation: %v", err)
	}
	third := c.activeRefreshTokens()
	if n := c.srv.Refreshes(); n != 2 || len(third) != 1 || third[0] == second[0] {
		t.Errorf("after the second serve process: %d refreshes, %d refresh tokens accepted, want 2 and 1 new one", n, len(third))
	}
	c.wantLogins(t, 2)
}

// TestOAuthRevokedRefreshToken revokes the account at the provider: a login through the
// bridge needs a refresh, the provider refuses it (invalid_grant), and the client gets one
// `-ERR [AUTH]` line that tells it to authorise again; popwire's log says the same, and
// Dovecot sees no login.
func TestOAuthRevokedRefreshToken(t *testing.T) {
	t.Parallel()
	c := newOAuthCase(t, oauthUserRevoke, "xoauth2", oauthtest.Options{AccessLifetime: shortLife})
	c.login(t, "device", approveDevice)
	c.srv.RevokeUser(c.account)
	awaitExpiry(c.loggedIn, shortLife)
	pw := c.serve(t, popwireOpts{})

	answer := refusedLogin(t, pw.plainAddr, c.account, c.password, "-ERR [AUTH] ")
	fix := "popwire auth login " + c.account
	if !strings.Contains(answer, fix) {
		t.Errorf("PASS answered %q: it does not say %q", answer, fix)
	}
	pw.stop(t)
	if out := pw.output(); !strings.Contains(out, fix) {
		t.Errorf("popwire's log does not say %q:\n%s", fix, out)
	}
	c.wantLogins(t, 0)
}

// TestOAuthWrongLocalPassword logs in through the bridge with a wrong local password: the
// client gets `-ERR [AUTH]`, the provider and Dovecot are not asked, and the wrong password
// shows in no output. The right password then works.
func TestOAuthWrongLocalPassword(t *testing.T) {
	t.Parallel()
	c := newOAuthCase(t, oauthUserWrongPassword, "xoauth2", oauthtest.Options{})
	c.login(t, "device", approveDevice)
	pw := c.serve(t, popwireOpts{})

	wrong := "wrong pw " + rand.Text()
	c.secrets = append(c.secrets, wrong)
	refusedLogin(t, pw.plainAddr, c.account, wrong, "-ERR [AUTH] ")
	if n := c.srv.Served(oauthtest.GrantRefreshToken); n != 0 {
		t.Errorf("oauthtest served %d refreshes for a wrong local password, want 0", n)
	}
	c.wantLogins(t, 0)
	if err := fetchOne(pw.plainAddr, c.account, c.password, c.d.full[0].served()); err != nil {
		t.Fatalf("the right password after a wrong one: %v", err)
	}
	c.wantLogins(t, 1)
}

// TestOAuthNoToken logs in through the bridge as an account that was never authorised: the
// client gets `-ERR [AUTH]` naming the command that authorises it.
func TestOAuthNoToken(t *testing.T) {
	t.Parallel()
	c := newOAuthCase(t, oauthUserNoToken, "xoauth2", oauthtest.Options{})
	pw := c.serve(t, popwireOpts{})
	answer := refusedLogin(t, pw.plainAddr, c.account, c.password, "-ERR [AUTH] ")
	if fix := "popwire auth login " + c.account; !strings.Contains(answer, fix) {
		t.Errorf("PASS answered %q: it does not say %q", answer, fix)
	}
	c.wantLogins(t, 0)
}

// TestOAuthProviderDown takes the provider down (503, then connections closed) while the
// access token needs a refresh: the client gets `-ERR [SYS/TEMP]` each time, and once the
// provider is back the same login works with one refresh.
func TestOAuthProviderDown(t *testing.T) {
	t.Parallel()
	c := newOAuthCase(t, oauthUserDown, "xoauth2", oauthtest.Options{AccessLifetime: shortLife})
	c.login(t, "device", approveDevice)
	c.srv.SetAccessLifetime(time.Hour)
	awaitExpiry(c.loggedIn, shortLife)
	pw := c.serve(t, popwireOpts{})

	for _, down := range []oauthtest.Down{oauthtest.Unavailable, oauthtest.Closed} {
		c.srv.SetDown(down)
		refusedLogin(t, pw.plainAddr, c.account, c.password, "-ERR [SYS/TEMP] ")
	}
	c.wantLogins(t, 0)
	c.srv.SetDown(oauthtest.Up)
	if err := fetchOne(pw.plainAddr, c.account, c.password, c.d.full[0].served()); err != nil {
		t.Fatalf("after the provider came back: %v", err)
	}
	if n := c.srv.Refreshes(); n != 1 {
		t.Errorf("oauthtest served %d refreshes, want 1", n)
	}
	c.wantLogins(t, 1)
}

// TestOAuthUpstreamRefusesToken has Dovecot refuse an access token that popwire still holds
// for valid (oauthtest expired it early): the bridge completes Dovecot's error challenge (an
// empty line for XOAUTH2, %x01 for OAUTHBEARER), logs its decoded status, and relays Dovecot's
// -ERR as the answer to PASS, within the test's deadline.
func TestOAuthUpstreamRefusesToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ account, mechanism, status string }{
		{oauthUserRefusedXOAUTH2, "xoauth2", `status "401"`},
		{oauthUserRefusedOAUTHBEARER, "oauthbearer", `status "invalid_token"`},
	} {
		t.Run(tc.mechanism, func(t *testing.T) {
			t.Parallel()
			c := newOAuthCase(t, tc.account, tc.mechanism, oauthtest.Options{})
			c.login(t, "device", approveDevice)
			c.srv.ExpireAccessTokens()
			pw := c.serve(t, popwireOpts{})
			answer := refusedLogin(t, pw.plainAddr, c.account, c.password, "-ERR [AUTH] ")
			if !strings.Contains(answer, "Authentication failed") {
				t.Errorf("PASS answered %q, want Dovecot's -ERR [AUTH] Authentication failed.", answer)
			}
			pw.stop(t)
			logged := false
			for _, ev := range logEvents(t, pw.jsonLog) {
				logged = logged || ev.Action == "oauth" && strings.Contains(ev.Text, "the server refused the token: "+tc.status)
			}
			if !logged {
				t.Errorf("no oauth event in popwire's JSON log says the server refused the token with %s", tc.status)
			}
			if n := c.srv.Refreshes(); n != 0 {
				t.Errorf("oauthtest served %d refreshes, want 0 (the stored access token was not near expiry)", n)
			}
			c.wantLogins(t, 0)
		})
	}
}

// TestOAuthListAndLogout authorises an account, then `popwire auth list` shows it with its
// provider and no secret, and `popwire auth logout` revokes its refresh token at the
// provider (RFC 7009) and deletes the stored file, after which the list is empty.
func TestOAuthListAndLogout(t *testing.T) {
	t.Parallel()
	c := newOAuthCase(t, oauthUserLogout, "xoauth2", oauthtest.Options{})
	c.login(t, "device", approveDevice)
	if n := len(c.activeRefreshTokens()); n != 1 {
		t.Fatalf("after auth login oauthtest accepts %d refresh tokens, want 1", n)
	}
	env := append(append(popwireEnv(), c.env()...), "POPWIRE_PASSWORD="+c.password)
	bin := popwireBinary(t)

	out, err := runCmd(time.Minute, env, bin, "auth", "list")
	c.checkNoSecrets(t, "auth list output", string(out))
	if err != nil {
		t.Fatalf("popwire auth list: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.account) + `\s+` + oauthProvider + `\s`).Match(out) {
		t.Errorf("popwire auth list does not show %s with provider %s:\n%s", c.account, oauthProvider, out)
	}

	out, err = runCmd(time.Minute, env, bin, "auth", "logout", c.account)
	c.checkNoSecrets(t, "auth logout output", string(out))
	if err != nil {
		t.Fatalf("popwire auth logout: %v\n%s", err, out)
	}
	if n := len(c.activeRefreshTokens()); n != 0 {
		t.Errorf("after auth logout oauthtest still accepts %d refresh tokens, want 0 (revoked)", n)
	}
	if files := c.storeFiles(t); len(files) != 0 {
		t.Errorf("after auth logout the store still holds %v", files)
	}
	out, err = runCmd(time.Minute, env, bin, "auth", "list")
	if err != nil || strings.Contains(string(out), c.account) {
		t.Errorf("popwire auth list after logout (%v):\n%s", err, out)
	}
}

// twoStepOnly is a plaintext relay in front of Dovecot's plaintext port that answers as
// Microsoft 365 does: an AUTH XOAUTH2 with the response on the command line gets `-ERR
// Protocol error. Connection is closed. 10` and the connection is closed. It records the
// shape of the AUTH exchanges it relays.
type twoStepOnly struct {
	ln       net.Listener
	upstream string

	mu     sync.Mutex // guards shapes
	shapes []string   // "AUTH XOAUTH2", then "<response>" for the line after it; "one-line" when refused
}

const oneLineRefusal = "-ERR Protocol error. Connection is closed. 10"

// newTwoStepOnly starts the relay to upstream for the rest of t.
func newTwoStepOnly(t *testing.T, upstream string) *twoStepOnly {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &twoStepOnly{ln: ln, upstream: upstream}
	t.Cleanup(func() { ln.Close() })
	go r.accept()
	return r
}

// port is the relay's port.
func (r *twoStepOnly) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

// accept serves each connection until the listener is closed.
func (r *twoStepOnly) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go r.relay(c)
	}
}

// relay copies the server's bytes to the client unchanged and the client's lines to the
// server, except a one-line AUTH XOAUTH2, which it refuses and ends the connection.
func (r *twoStepOnly) relay(client net.Conn) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", r.upstream, 10*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	deadline := time.Now().Add(3 * time.Minute)
	_ = client.SetDeadline(deadline)
	_ = server.SetDeadline(deadline)
	go copyThenClose(client, server)
	lines := bufio.NewReader(client)
	afterAuth := false
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimRight(line, "\r\n"))
		switch {
		case afterAuth:
			r.record("<response>")
		case cmd == "AUTH XOAUTH2" || cmd == "AUTH OAUTHBEARER":
			r.record(cmd)
		case strings.HasPrefix(cmd, "AUTH XOAUTH2 "):
			r.record("one-line")
			_, _ = io.WriteString(client, oneLineRefusal+"\r\n")
			return
		}
		afterAuth = strings.HasPrefix(cmd, "AUTH ")
		if _, err := io.WriteString(server, line); err != nil {
			return
		}
	}
}

// copyThenClose copies src to dst and then closes dst, so that the other side sees the end.
func copyThenClose(dst io.WriteCloser, src io.Reader) {
	_, _ = io.Copy(dst, src)
	dst.Close()
}

func (r *twoStepOnly) record(shape string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shapes = append(r.shapes, shape)
}

// seen returns the shapes recorded so far.
func (r *twoStepOnly) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.shapes...)
}

// TestOAuthTwoStepUpstream puts in front of Dovecot an upstream that refuses the one-line
// XOAUTH2 form as Microsoft 365 does: the bridge logs in with the command, then the response
// after `+ `, and the client gets its mail.
func TestOAuthTwoStepUpstream(t *testing.T) {
	t.Parallel()
	c := newOAuthCase(t, oauthUserTwoStep, "xoauth2", oauthtest.Options{})
	relay := newTwoStepOnly(t, loopback(c.d.plainPort))

	// The relay itself refuses the one-line form, whatever the token.
	p, err := dialPOP(loopback(relay.port()), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if l, err := p.cmd("AUTH XOAUTH2 %s", oauth.XOAUTH2.InitialResponse(c.account, "not-a-token")); err == nil || l != oneLineRefusal {
		t.Fatalf("the relay answered the one-line form with %q, want %q", l, oneLineRefusal)
	}
	p.conn.Close()

	c.login(t, "device", approveDevice)
	pw := c.serve(t, popwireOpts{upstreamPort: relay.port(), upstreamTLS: "none"})
	if err := fetchOne(pw.plainAddr, c.account, c.password, c.d.full[0].served()); err != nil {
		t.Fatal(err)
	}
	if got, want := relay.seen(), []string{"one-line", "AUTH XOAUTH2", "<response>"}; !slices.Equal(got, want) {
		t.Errorf("the upstream saw the AUTH exchanges %v, want %v", got, want)
	}
	c.wantLogins(t, 1)
}
