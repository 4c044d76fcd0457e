package oauthtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// start runs a Server for the test.
func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// config is an x/oauth2 client of s.
func config(s *Server, secret string) *oauth2.Config {
	return &oauth2.Config{ClientID: "cid", ClientSecret: secret, Endpoint: s.Endpoint(),
		RedirectURL: "http://127.0.0.1:9/cb", Scopes: []string{"mail"}}
}

// noRedirect is an HTTP client that stops at the first redirect.
var noRedirect = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorizeReq runs the authorization request of cfg with verifier and returns the redirect's
// query.
func authorizeReq(t *testing.T, cfg *oauth2.Config, verifier string, opts ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	opts = append(opts, oauth2.S256ChallengeOption(verifier))
	resp, err := noRedirect.Get(cfg.AuthCodeURL("st4te", opts...))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	return loc.Query()
}

// introspect asks s about token with the given client credentials.
func introspect(t *testing.T, s *Server, token string, form url.Values) map[string]any {
	t.Helper()
	form.Set("token", token)
	resp, err := http.PostForm(s.IntrospectionURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	s := start(t, Options{ClientID: "cid", ClientSecret: "csecret"})
	cfg := config(s, "csecret")
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()
	q := authorizeReq(t, cfg, verifier, oauth2.SetAuthURLParam("login_hint", "ann@example.com"))
	if q.Get("state") != "st4te" || q.Get("code") == "" {
		t.Fatalf("redirect query %v", q)
	}
	if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); !isCode(err, "invalid_grant") {
		t.Fatalf("a wrong verifier: %v, want invalid_grant", err)
	}
	q = authorizeReq(t, cfg, verifier, oauth2.SetAuthURLParam("login_hint", "ann@example.com"))
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("token %+v", tok)
	}
	if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); !isCode(err, "invalid_grant") {
		t.Fatalf("a used code: %v, want invalid_grant", err)
	}
	if _, err := config(s, "wrong").Exchange(ctx, "x", oauth2.VerifierOption(verifier)); !isCode(err, "invalid_client") {
		t.Fatalf("a wrong client secret: %v, want invalid_client", err)
	}
	got := introspect(t, s, tok.AccessToken, url.Values{})
	if got["active"] != true || got["username"] != "ann@example.com" || got["scope"] != "mail" {
		t.Fatalf("introspection %v", got)
	}
	if s.Served(GrantAuthorizationCode) != 1 {
		t.Fatalf("served %d authorization codes, want 1", s.Served(GrantAuthorizationCode))
	}
}

func TestAuthorizeRefusesWithoutPKCE(t *testing.T) {
	s := start(t, Options{User: "ann@example.com"})
	resp, err := noRedirect.Get(config(s, "").AuthCodeURL("st"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
		t.Fatalf("without PKCE: Location %q", resp.Header.Get("Location"))
	}
}

func TestDeviceFlowPendsThenApproves(t *testing.T) {
	s := start(t, Options{User: "bob@example.com", DevicePolls: 1})
	cfg := config(s, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da.UserCode == "" || da.VerificationURI == "" || da.Interval != 1 {
		t.Fatalf("device authorization %+v", da)
	}
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatal(err)
	}
	if got := introspect(t, s, tok.AccessToken, url.Values{}); got["username"] != "bob@example.com" {
		t.Fatalf("introspection %v", got)
	}
	if s.Served(GrantDeviceCode) != 1 {
		t.Fatalf("served %d device codes", s.Served(GrantDeviceCode))
	}
}

func TestRefreshRotates(t *testing.T) {
	s := start(t, Options{User: "ann@example.com", AccessLifetime: time.Minute})
	cfg := config(s, "")
	ctx := context.Background()
	tok := deviceToken(t, cfg)
	if tok.ExpiresIn != 60 {
		t.Fatalf("expires_in %d, want 60", tok.ExpiresIn)
	}
	tok.Expiry = time.Now().Add(-time.Second)
	fresh, err := cfg.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
		t.Fatal("the refresh did not rotate")
	}
	if s.Active(tok.RefreshToken) || !s.Active(fresh.RefreshToken) {
		t.Fatal("the old refresh token is still active, or the new one is not")
	}
	if _, err := cfg.TokenSource(ctx, tok).Token(); !isCode(err, "invalid_grant") {
		t.Fatalf("the rotated-out refresh token: %v, want invalid_grant", err)
	}
	if s.Refreshes() != 1 {
		t.Fatalf("%d refreshes, want 1", s.Refreshes())
	}
}

func TestNoRotationKeepsTheRefreshToken(t *testing.T) {
	s := start(t, Options{User: "ann@example.com", NoRotation: true})
	cfg := config(s, "")
	tok := deviceToken(t, cfg)
	tok.Expiry = time.Now().Add(-time.Second)
	fresh, err := cfg.TokenSource(context.Background(), tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.RefreshToken != tok.RefreshToken || !s.Active(tok.RefreshToken) {
		t.Fatal("the refresh token changed")
	}
}

func TestControls(t *testing.T) {
	s := start(t, Options{User: "ann@example.com", IntrospectionClientID: "dovecot", IntrospectionClientSecret: "dsecret"})
	cfg := config(s, "")
	tok := deviceToken(t, cfg)
	creds := url.Values{"client_id": {"dovecot"}, "client_secret": {"dsecret"}}
	if got := introspect(t, s, tok.AccessToken, url.Values{"client_id": {"dovecot"}}); got["error"] != "invalid_client" {
		t.Fatalf("introspection without the secret: %v", got)
	}
	if got := introspect(t, s, tok.AccessToken, creds); got["active"] != true {
		t.Fatalf("introspection %v", got)
	}
	s.ExpireAccessTokens()
	if got := introspect(t, s, tok.AccessToken, creds); got["active"] != false {
		t.Fatalf("after ExpireAccessTokens: %v", got)
	}
	if !s.Active(tok.RefreshToken) {
		t.Fatal("ExpireAccessTokens ended the refresh token")
	}
	s.RevokeUser("ann@example.com")
	tok.Expiry = time.Now().Add(-time.Second)
	if _, err := cfg.TokenSource(context.Background(), tok).Token(); !isCode(err, "invalid_grant") {
		t.Fatalf("after RevokeUser: %v, want invalid_grant", err)
	}
	for _, d := range []Down{Unavailable, Closed} {
		s.SetDown(d)
		_, err := cfg.DeviceAuth(context.Background())
		var re *oauth2.RetrieveError
		if d == Unavailable && (!errors.As(err, &re) || re.Response.StatusCode != http.StatusServiceUnavailable) {
			t.Fatalf("Unavailable: %v", err)
		}
		if d == Closed && (err == nil || errors.As(err, &re)) {
			t.Fatalf("Closed: %v", err)
		}
	}
	s.SetDown(Up)
	if _, err := cfg.DeviceAuth(context.Background()); err != nil {
		t.Fatalf("Up again: %v", err)
	}
	if s.Introspections() != 2 {
		t.Fatalf("%d introspections, want 2", s.Introspections())
	}
}

func TestRevocation(t *testing.T) {
	s := start(t, Options{User: "ann@example.com"})
	cfg := config(s, "")
	tok := deviceToken(t, cfg)
	resp, err := http.PostForm(s.RevocationURL(), url.Values{"token": {tok.RefreshToken}, "client_id": {"cid"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || s.Active(tok.RefreshToken) || s.Active(tok.AccessToken) {
		t.Fatalf("revocation: %s; refresh active %v, access active %v", resp.Status, s.Active(tok.RefreshToken), s.Active(tok.AccessToken))
	}
	secrets := strings.Join(s.Secrets(), " ")
	if !strings.Contains(secrets, tok.RefreshToken) || !strings.Contains(secrets, tok.AccessToken) {
		t.Fatal("Secrets misses an issued token")
	}
}

// deviceToken gets a token for cfg through the device flow.
func deviceToken(t *testing.T, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// isCode reports whether err is a token endpoint error with the RFC 6749 code.
func isCode(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}
