package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/metrics"
	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/oauthtest"
	"github.com/popwire/popwire/internal/popserver"
	"github.com/popwire/popwire/internal/proxy"
)

// TestServeOAuth authorises an account with popwire auth login against a test authorization
// server, then serves with --oauth: a client's USER/PASS with the local password logs in to an
// upstream that accepts only the account's live access token, with the mechanism asked for.
func TestServeOAuth(t *testing.T) {
	a, upstream := oauthAccount(t)
	cfg, err := serveConfig(serveContext(t, "--oauth", "corp", "--oauth-mechanism", "oauthbearer",
		"--upstream", upstream, "--upstream-tls", "none", "--insecure-upstream-plaintext", "--listen", "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.OAuth.(*oauth.Tokens); !ok || cfg.OAuthMechanism == nil || *cfg.OAuthMechanism != oauth.OAUTHBEARER {
		t.Fatalf("OAuth %T, mechanism %v: want the token store and OAUTHBEARER", cfg.OAuth, cfg.OAuthMechanism)
	}
	cfg.Listen = ""
	srv, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(proxy.Listener{Listener: pl})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	checkBridgeLogins(t, pl.Addr().String())
	a.checkSecrets()
}

// oauthUser is the account oauthAccount authorises.
const oauthUser = "ann@example.com"

// oauthAccount authorises oauthUser with the custom provider "corp" (popwire auth login,
// device flow) and starts an upstream that takes only that account's live access tokens; it
// returns the authorization server's test and the upstream's address.
func oauthAccount(t *testing.T) (*authTest, string) {
	t.Helper()
	a := newAuthTest(t, oauthtest.Options{User: oauthUser, DevicePolls: 1})
	if code, out, errOut := a.run(nil, append([]string{"auth", "login", oauthUser, "--provider", "corp", "--flow", "device"}, a.endpoints(false)...)...); code != 0 {
		t.Fatalf("auth login: %d\n%s\n%s", code, out, errOut)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &popserver.Server{CheckToken: func(u, token string) bool { return u == oauthUser && a.srv.Active(token) }}
	go up.Serve(ln)
	t.Cleanup(func() { up.Close() })
	return a, ln.Addr().String()
}

// checkBridgeLogins logs in to the bridge at addr as oauthUser: with a wrong local password
// the client gets -ERR [AUTH], with the right one +OK from the upstream.
func checkBridgeLogins(t *testing.T, addr string) {
	t.Helper()
	for _, tc := range []struct{ password, want string }{
		{"not-the-password", "-ERR [AUTH]"},
		{authPassword, "+OK"},
	} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		var got []string
		for _, line := range []string{"", "USER " + oauthUser, "PASS " + tc.password} {
			if line != "" {
				c.Write([]byte(line + "\r\n"))
			}
			reply, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%q: %v (so far %q)", line, err, got)
			}
			got = append(got, reply)
		}
		c.Close()
		if !strings.HasPrefix(got[2], tc.want) {
			t.Errorf("PASS with %q: %q, want %s", tc.password, got[2], tc.want)
		}
	}
}

// TestRoutesOAuth serves a file whose route has an oauth section: the same bridge as --oauth.
func TestRoutesOAuth(t *testing.T) {
	a, upstream := oauthAccount(t)
	secret := filepath.Join(t.TempDir(), "secret")
	writeFile(t, secret, authClientSecret+"\n")
	listen := freeAddr(t)
	path := filepath.Join(t.TempDir(), "popwire.yaml")
	writeFile(t, path, fmt.Sprintf(`routes:
  - name: corp
    listen: [{address: %q}]
    upstream: {address: %q, tls: none, insecure_plaintext: true}
    oauth: {provider: corp, mechanism: oauthbearer, client_secret_file: %q}
`, listen, upstream, secret))
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	set, err := newRouteSet(cfg, nil, nil, proxy.LogOptions{}, nil) // the token store of newAuthTest's XDG_CONFIG_HOME
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		set.Shutdown(ctx)
	})
	checkBridgeLogins(t, listen)
	if len(set.tokens) != 1 {
		t.Fatalf("%d token sources, want 1", len(set.tokens))
	}
	a.checkSecrets()
}

// TestServeOAuthFlags checks that a provider flag without --oauth is refused, not ignored.
func TestServeOAuthFlags(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--oauth-client-id", "x"}, "--oauth-client-id needs --oauth PROVIDER"},
		{[]string{"--oauth", "Not A Name"}, "use google, microsoft, or the name"},
		{[]string{"--oauth", "google", "--oauth-mechanism", "plain"}, "--oauth-mechanism"},
		{[]string{"--oauth", "google", "--oauth-tenant", "consumers"}, "--oauth-tenant is for microsoft"},
		{[]string{"--oauth", "corp", "--oauth-tenant", "consumers"}, "--oauth-tenant is for microsoft, not corp"},
	} {
		_, err := serveConfig(serveContext(t, tt.args...))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error saying %q", tt.args, err, tt.want)
		}
	}
}

// TestServeOAuthMechanismIsTheAccounts: without --oauth-mechanism serve imposes none, and each
// account logs in upstream with the mechanism it was authorised for at auth login.
func TestServeOAuthMechanismIsTheAccounts(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cfg, err := serveConfig(serveContext(t, "--oauth", "google", "--oauth-client-id", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OAuthMechanism != nil {
		t.Fatalf("mechanism %v without --oauth-mechanism, want none imposed", *cfg.OAuthMechanism)
	}
}

// TestRefreshOutcomesAreMetricLabels: every outcome Tokens.OnRefresh reports is a label value
// of popwire_oauth_refreshes_total, and the metric has no value nothing reports but "other".
func TestRefreshOutcomesAreMetricLabels(t *testing.T) {
	reported := []string{oauth.RefreshOK, oauth.RefreshRefused, oauth.RefreshUnreachable, "other"}
	if !slices.Equal(metrics.RefreshOutcomes, reported) {
		t.Fatalf("metrics.RefreshOutcomes = %q, want what Tokens reports: %q", metrics.RefreshOutcomes, reported)
	}
}
