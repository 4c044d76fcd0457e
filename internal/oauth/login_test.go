package oauth

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/oauthtest"
)

func TestLoopbackFlowFollowingThePrintedURL(t *testing.T) {
	s := startServer(t, oauthtest.Options{ClientSecret: "csecret"})
	out, found := printedURL(t)
	type result struct {
		g   Grant
		err error
	}
	done := make(chan result, 1)
	go func() {
		g, err := Login{Provider: testProvider(s, "csecret"), Address: "bob@example.com", Flow: FlowLoopback, NoBrowser: true, Out: out}.Authorize(testContext(t))
		done <- result{g, err}
	}()
	u := waitURL(t, found)
	if !strings.Contains(u, "code_challenge_method=S256") || !strings.Contains(u, "login_hint=bob%40example.com") {
		t.Fatalf("authorization URL %s", u)
	}
	parsed, _ := url.Parse(u)
	if redirect, err := url.Parse(parsed.Query().Get("redirect_uri")); err != nil || redirect.Hostname() != "127.0.0.1" || redirect.Path != "" {
		t.Fatalf("redirect_uri %q: want http://127.0.0.1:PORT with no path, as Microsoft matches it", parsed.Query().Get("redirect_uri"))
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u) // follows the redirect to the flow's listener
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "received") {
		t.Fatalf("the redirect URI answered %s: %s", resp.Status, body)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.g.token.RefreshToken == "" || !s.Active(r.g.token.AccessToken) || r.g.Scope() != "mail offline" {
		t.Fatalf("grant: refresh %v, access active %v, scope %q", r.g.token.RefreshToken != "", s.Active(r.g.token.AccessToken), r.g.Scope())
	}
	if s.Served(oauthtest.GrantAuthorizationCode) != 1 {
		t.Fatal("no authorization code was exchanged")
	}
}

func TestLoopbackFlowPastedURL(t *testing.T) {
	s := startServer(t, oauthtest.Options{})
	out, found := printedURL(t)
	in, paste := io.Pipe()
	t.Cleanup(func() { paste.Close() })
	var browsed string
	done := make(chan error, 1)
	go func() {
		_, err := Login{Provider: testProvider(s, ""), Address: testAccount, Flow: FlowLoopback, Out: out, In: in,
			Browser: func(u string) error { browsed = u; return errors.New("no browser here") }}.Authorize(testContext(t))
		done <- err
	}()
	u := waitURL(t, found)
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http://127.0.0.1:") {
		t.Fatalf("Location %q", loc)
	}
	// A foreign answer (another state) is refused and the flow waits on.
	forged := strings.Replace(loc, "state=", "state=x", 1)
	if _, err := io.WriteString(paste, "not a url %zz\n"+forged+"\n"+loc+"\n"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if browsed != u {
		t.Fatalf("the browser was given %q, the person %q", browsed, u)
	}
}

func TestLoopbackFlowRefusesAForeignState(t *testing.T) {
	h := redirectHandler("right", func(callback) { t.Error("a wrong state was delivered") })
	for _, q := range []string{"?state=wrong&code=c", "?code=c", "?state=right"} {
		rec := &recorder{header: http.Header{}}
		req, _ := http.NewRequest("GET", "http://127.0.0.1/"+q, nil)
		h.ServeHTTP(rec, req)
		if rec.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, rec.status)
		}
	}
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(status int)      { r.status = status }

func TestLoopbackFlowTimesOut(t *testing.T) {
	s := startServer(t, oauthtest.Options{})
	_, err := Login{Provider: testProvider(s, ""), Address: testAccount, Flow: FlowLoopback, NoBrowser: true, Out: io.Discard,
		Timeout: 50 * time.Millisecond}.Authorize(testContext(t))
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "popwire auth login "+testAccount) {
		t.Fatalf("err = %v, want ErrUnreachable naming the fix", err)
	}
}

func TestDeviceFlow(t *testing.T) {
	s := startServer(t, oauthtest.Options{DevicePolls: 1})
	var out strings.Builder
	g, err := Login{Provider: testProvider(s, ""), Address: testAccount, Out: &out}.Authorize(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), s.URL+"/activate") || !regexpUserCode.MatchString(out.String()) {
		t.Fatalf("instructions %q lack the address or the code", out.String())
	}
	if !s.Active(g.token.RefreshToken) || s.Served(oauthtest.GrantDeviceCode) != 1 {
		t.Fatal("the device flow did not end with a token")
	}
}

func TestDeviceFlowProviderDown(t *testing.T) {
	s := startServer(t, oauthtest.Options{})
	s.SetDown(oauthtest.Unavailable)
	_, err := Login{Provider: testProvider(s, ""), Address: testAccount, Out: io.Discard}.Authorize(testContext(t))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

func TestGoogleHasNoDeviceFlow(t *testing.T) {
	p, _, _ := Builtin("google", "")
	p.ClientID = "x"
	_, err := Login{Provider: p, Address: testAccount, Flow: FlowDevice, Out: io.Discard}.Authorize(testContext(t))
	if err == nil || !strings.Contains(err.Error(), "--flow loopback") {
		t.Fatalf("err = %v", err)
	}
}

func TestOpenBrowserNeedsAGraphicalSession(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("a desktop is always there")
	}
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	if err := OpenBrowser("http://127.0.0.1:9/"); err == nil || !strings.Contains(err.Error(), "no graphical session") {
		t.Fatalf("err = %v", err)
	}
}
