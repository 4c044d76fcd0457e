package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/oauthtest"
)

// authTest runs popwire auth in-process against an oauthtest server and keeps every output.
type authTest struct {
	t       *testing.T
	srv     *oauthtest.Server
	mu      sync.Mutex
	outputs []string
}

const (
	authPassword     = "local-PASSWORD-7x"
	authClientSecret = "client-SECRET-9q"
)

func newAuthTest(t *testing.T, opts oauthtest.Options) *authTest {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(passwordEnv, authPassword)
	t.Setenv("POPWIRE_OAUTH_CLIENT_SECRET", authClientSecret)
	opts.ClientID, opts.ClientSecret = "cid", authClientSecret
	srv, err := oauthtest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &authTest{t: t, srv: srv}
}

// endpoints are the flags that point a provider at the test server.
func (a *authTest) endpoints(revoke bool) []string {
	args := []string{"--oauth-client-id", "cid", "--oauth-auth-url", a.srv.AuthURL(), "--oauth-token-url", a.srv.TokenURL(),
		"--oauth-device-url", a.srv.DeviceURL()}
	if revoke {
		args = append(args, "--oauth-revoke-url", a.srv.RevocationURL())
	}
	return args
}

// run runs popwire with args, stdout going to out as well when it is not nil, and returns
// the exit status and both outputs.
func (a *authTest) run(out io.Writer, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	w := io.Writer(&stdout)
	if out != nil {
		w = io.MultiWriter(&stdout, out)
	}
	code := run(append([]string{"popwire"}, args...), w, &stderr)
	a.mu.Lock()
	a.outputs = append(a.outputs, stdout.String(), stderr.String())
	a.mu.Unlock()
	return code, stdout.String(), stderr.String()
}

// checkSecrets fails the test if any output holds a secret the server issued or saw, the
// client secret or the local password, raw or in base64.
func (a *authTest) checkSecrets() {
	a.t.Helper()
	all := strings.Join(a.outputs, "\n")
	secrets := append(a.srv.Secrets(), authPassword, authClientSecret, "wrong-SECRET-3")
	if len(secrets) < 5 { // the three above, and at least a code and a token of the server
		a.t.Fatalf("only %d secrets to look for", len(secrets))
	}
	for _, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawStdEncoding.EncodeToString([]byte(s)),
			base64.URLEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))} {
			if strings.Contains(all, form) {
				a.t.Errorf("an output of popwire auth holds a secret (%.8s…)", form)
			}
		}
	}
}

func TestAuthDeviceLoginListLogout(t *testing.T) {
	a := newAuthTest(t, oauthtest.Options{User: "ann@example.com", DevicePolls: 1})
	code, out, errOut := a.run(nil, append([]string{"auth", "login", "ann@example.com", "--provider", "corp", "--flow", "device"}, a.endpoints(true)...)...)
	if code != 0 || !regexp.MustCompile(`[A-Z2-7]{4}-[A-Z2-7]{4}`).MatchString(out) || !strings.Contains(out, "Authorised ann@example.com with corp") {
		t.Fatalf("login: %d\n%s\n%s", code, out, errOut)
	}
	file := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "popwire", "accounts", "ann@example.com.json")
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v", err)
	}
	code, out, _ = a.run(nil, "auth", "list")
	if code != 0 || !regexp.MustCompile(`ann@example\.com\s+corp\s+\d{4}-\d\d-\d\d`).MatchString(out) {
		t.Fatalf("list: %d\n%s", code, out)
	}
	b, _ := os.ReadFile(file)
	t.Setenv(passwordEnv, "not-the-password")
	if code, _, errOut := a.run(nil, "auth", "logout", "ann@example.com"); code != 1 || !strings.Contains(errOut, "local password does not unlock") {
		t.Fatalf("logout with a wrong password: %d %s", code, errOut)
	}
	t.Setenv(passwordEnv, authPassword)
	code, out, errOut = a.run(nil, "auth", "logout", "ann@example.com")
	if code != 0 || !strings.Contains(out, "corp revoked the refresh token") {
		t.Fatalf("logout: %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("the file is still there: %v", err)
	}
	for _, s := range a.srv.Secrets() {
		if strings.HasPrefix(s, "refresh-") && a.srv.Active(s) {
			t.Fatal("a refresh token is still active after logout")
		}
	}
	if !bytes.Contains(b, []byte(`"provider": "corp"`)) {
		t.Fatalf("the file did not record the provider:\n%s", b)
	}
	a.checkSecrets()
}

func TestAuthLoopbackLogin(t *testing.T) {
	a := newAuthTest(t, oauthtest.Options{})
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code, _, _ := a.run(pw, append([]string{"auth", "login", "bob@example.com", "--provider", "corp", "--no-browser"}, a.endpoints(false)...)...)
		pw.Close()
		done <- code
	}()
	sc := bufio.NewScanner(pr)
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+/authorize\?\S+`)
	for sc.Scan() {
		if u := re.FindString(sc.Text()); u != "" {
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			break
		}
	}
	go io.Copy(io.Discard, pr)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("login: %d %q", code, a.outputs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("auth login did not finish")
	}
	if a.srv.Served(oauthtest.GrantAuthorizationCode) != 1 {
		t.Fatal("no code was exchanged")
	}
	a.checkSecrets()
}

func TestAuthMicrosoftHasNoRevocation(t *testing.T) {
	a := newAuthTest(t, oauthtest.Options{User: "carl@outlook.com"})
	if code, out, errOut := a.run(nil, append([]string{"auth", "login", "carl@outlook.com", "--provider", "microsoft", "--oauth-tenant", "organizations"}, a.endpoints(false)...)...); code != 0 {
		t.Fatalf("login: %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ := a.run(nil, "auth", "logout", "carl@outlook.com")
	if code != 0 || !strings.Contains(out, "microsoft has no revocation endpoint") {
		t.Fatalf("logout: %d\n%s", code, out)
	}
	a.checkSecrets()
}

func TestAuthUsage(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(passwordEnv, authPassword)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"auth"}, 2, "auth needs a command"},
		{[]string{"auth", "frobnicate"}, 2, `unknown auth command "frobnicate"`},
		{[]string{"auth", "login", "a@b"}, 2, "needs --provider"},
		{[]string{"auth", "login", "a@b", "--provider", "google"}, 2, "popwire ships no client ID; register one as the README"},
		{[]string{"auth", "login", "a@b", "--provider", "microsoft", "--oauth-tenant", "a/b", "--oauth-client-id", "x"}, 2, "--oauth-tenant"},
		{[]string{"auth", "login", "a@b", "--provider", "Bad/Name", "--oauth-client-id", "x"}, 2, "provider \"Bad/Name\""},
		{[]string{"auth", "login", "a@b", "--provider", "corp", "--oauth-client-id", "x", "--oauth-token-url", "http://127.0.0.1:9/t"}, 2, "--oauth-auth-url"},
		{[]string{"auth", "login", "a@b", "--provider", "google", "--oauth-client-id", "x", "--flow", "carrier-pigeon"}, 2, "--flow"},
		{[]string{"auth", "login", "a@b", "--provider", "google", "--oauth-client-id", "x", "--oauth-mechanism", "plain"}, 2, "--oauth-mechanism"},
		{[]string{"auth", "login"}, 2, "takes one ADDRESS"},
		{[]string{"auth", "logout", "nobody@example.com"}, 1, "run popwire auth login nobody@example.com"},
		{[]string{"auth", "list"}, 0, "No account is authorised"},
		{[]string{"auth", "list", "x"}, 2, "takes no arguments"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"popwire"}, tc.args...), &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("%q: code %d (want %d)\nstdout %q\nstderr %q", tc.args, code, tc.code, out.String(), errb.String())
		}
	}
	if code, _, errb := runArgs("auth", "login", "a\x01b", "--provider", "google", "--oauth-client-id", "x"); code != 2 || !strings.Contains(errb, "control characters") {
		t.Errorf("an address with a control character: %d %q", code, errb)
	}
	t.Setenv(passwordEnv, "short")
	var out, errb bytes.Buffer
	if code := run([]string{"popwire", "auth", "login", "a@b", "--provider", "google", "--oauth-client-id", "x"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "at least 8 characters") {
		t.Errorf("a short password: %d %q", code, errb.String())
	}
}

// runArgs runs popwire with args and returns the exit status and both outputs.
func runArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"popwire"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestAuthLoginFailuresSpeakPlainly(t *testing.T) {
	a := newAuthTest(t, oauthtest.Options{User: "ann@example.com"})
	a.srv.SetDown(oauthtest.Unavailable)
	code, _, errOut := a.run(nil, append([]string{"auth", "login", "ann@example.com", "--provider", "corp", "--flow", "device"}, a.endpoints(true)...)...)
	if code != 1 || !strings.Contains(errOut, "provider corp failed to start the device authorization for ann@example.com (HTTP 503)") {
		t.Fatalf("provider down: %d %q", code, errOut)
	}
	a.srv.SetDown(oauthtest.Up)
	t.Setenv("POPWIRE_OAUTH_CLIENT_SECRET", "wrong-SECRET-3")
	code, _, errOut = a.run(nil, append([]string{"auth", "login", "ann@example.com", "--provider", "corp", "--flow", "device"}, a.endpoints(true)...)...)
	if code != 1 || !strings.Contains(errOut, "invalid_client") || strings.Contains(errOut, "wrong-SECRET-3") {
		t.Fatalf("a wrong client secret: %d %q", code, errOut)
	}
	if code, out, _ := a.run(nil, "auth", "list"); code != 0 || !strings.Contains(out, "No account") {
		t.Fatalf("a failed login stored something: %q", out)
	}
	a.checkSecrets()
}
