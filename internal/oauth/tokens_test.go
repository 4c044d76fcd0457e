package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/oauthtest"
)

// loggedIn authorises testAccount on s through the device flow and stores it under testPassword.
func loggedIn(t *testing.T, s *oauthtest.Server, p Provider) *Store {
	t.Helper()
	g, err := Login{Provider: p, Address: testAccount, Out: io.Discard}.Authorize(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(t)
	if _, err := st.Save(p, testAccount, g, testPassword); err != nil {
		t.Fatal(err)
	}
	return st
}

// nearExpiry rewrites the file of testAccount in st as if its access token had been issued
// life ago and expired in left, as a token does in the middle of the day.
func nearExpiry(t *testing.T, st *Store, life, left time.Duration) {
	t.Helper()
	f, err := st.load(testAccount)
	if err != nil {
		t.Fatal(err)
	}
	key, sec, err := f.openWithPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	f.Expiry = time.Now().Add(left)
	f.LastRefresh = f.Expiry.Add(-life)
	if err := f.sealWith(key, sec); err != nil {
		t.Fatal(err)
	}
	if err := st.write(f); err != nil {
		t.Fatal(err)
	}
}

// outcomes records OnRefresh calls.
type outcomes struct {
	mu  sync.Mutex
	got []string
}

func (o *outcomes) add(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, s)
}

func (o *outcomes) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.got, ",")
}

func TestConcurrentCallersNearExpiryShareOneRefresh(t *testing.T) {
	s := startServer(t, oauthtest.Options{ClientSecret: "csecret"})
	p := testProvider(s, "csecret")
	st := loggedIn(t, s, p)
	nearExpiry(t, st, time.Hour, 2*time.Minute) // within the 5-minute margin
	first, err := st.load(testAccount)
	if err != nil {
		t.Fatal(err)
	}
	var seen outcomes
	tk := &Tokens{Store: st, OnRefresh: seen.add}
	var wg sync.WaitGroup
	tokens := make([]string, 20)
	errs := make([]error, 20)
	for i := range tokens {
		wg.Go(func() {
			a, err := tk.Token(testContext(t), testAccount, testPassword)
			tokens[i], errs[i] = a.Token, err
		})
	}
	wg.Wait()
	for i := range tokens {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if tokens[i] != tokens[0] || !s.Active(tokens[i]) {
			t.Fatalf("caller %d got another or an inactive token", i)
		}
	}
	if n := s.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes for 20 concurrent callers, want 1", n)
	}
	if seen.String() != RefreshOK {
		t.Fatalf("OnRefresh outcomes %q, want one ok", seen.String())
	}

	// The rotated refresh token is stored; the old one is refused by the server.
	after, err := st.load(testAccount)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := after.KDF.key(testPassword)
	oldSec, _ := first.openWith(key)
	newSec, err := after.openWith(key)
	if err != nil {
		t.Fatal(err)
	}
	if newSec.RefreshToken == oldSec.RefreshToken || !s.Active(newSec.RefreshToken) || s.Active(oldSec.RefreshToken) {
		t.Fatal("the stored refresh token is not the rotated one")
	}
	if newSec.AccessToken != tokens[0] || time.Until(after.Expiry) < 50*time.Minute || after.LastRefresh.Before(first.LastRefresh) {
		t.Fatalf("the file records expiry %v, last refresh %v", after.Expiry, after.LastRefresh)
	}
	// A second Source, as after a restart, refreshes with the stored rotated token.
	nearExpiry(t, st, time.Hour, time.Minute)
	tk2 := &Tokens{Store: st}
	if _, err := tk2.Token(testContext(t), testAccount, testPassword); err != nil {
		t.Fatalf("refresh after a restart: %v", err)
	}
	if s.Refreshes() != 2 {
		t.Fatalf("%d refreshes, want 2", s.Refreshes())
	}
}

func TestCachedUnlock(t *testing.T) {
	s := startServer(t, oauthtest.Options{})
	st := loggedIn(t, s, testProvider(s, ""))
	tk := &Tokens{Store: st}
	if _, err := tk.Token(testContext(t), testAccount, testPassword); err != nil {
		t.Fatal(err)
	}
	key := tk.account(testAccount).key
	if _, err := tk.Token(testContext(t), testAccount, "pW"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("a wrong password after an unlock: %v", err)
	}
	if _, err := tk.Token(testContext(t), testAccount, testPassword); err != nil {
		t.Fatal(err)
	}
	if &tk.account(testAccount).key[0] != &key[0] || s.Refreshes() != 0 {
		t.Fatal("the key was derived again, or a fresh token refreshed")
	}
	// A new auth login with a new password replaces the cached key.
	if _, err := st.Save(testProvider(s, ""), testAccount, testGrant("x", "y"), "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Token(testContext(t), testAccount, testPassword); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("the old password after a new login: %v", err)
	}
	if a, err := tk.Token(testContext(t), testAccount, "new"); err != nil || a.Token != "x" {
		t.Fatalf("the new password: %q, %v", a.Token, err)
	}
	// auth logout takes effect at once.
	if err := st.Delete(testAccount); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Token(testContext(t), testAccount, "new"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("after logout: %v", err)
	}
}

func TestRevokedRefreshTokenIsRefused(t *testing.T) {
	for _, name := range []string{"test", "google"} {
		t.Run(name, func(t *testing.T) {
			s := startServer(t, oauthtest.Options{})
			p := testProvider(s, "")
			p.Name = name
			st := loggedIn(t, s, p)
			nearExpiry(t, st, time.Hour, time.Minute)
			s.RevokeUser(testAccount)
			var seen outcomes
			_, err := (&Tokens{Store: st, OnRefresh: seen.add}).Token(testContext(t), testAccount, testPassword)
			if !errors.Is(err, ErrRefreshRefused) || !strings.Contains(err.Error(), "invalid_grant") ||
				!strings.Contains(err.Error(), "run popwire auth login "+testAccount) {
				t.Fatalf("err = %v", err)
			}
			if hint := strings.Contains(err.Error(), `"Testing"`) && strings.Contains(err.Error(), "7 days"); hint != (name == "google") {
				t.Fatalf("the Testing-status hint shown %v for %s: %v", hint, name, err)
			}
			if seen.String() != RefreshRefused {
				t.Fatalf("outcomes %q", seen.String())
			}
		})
	}
}

func TestProviderDownIsUnreachable(t *testing.T) {
	for _, down := range []oauthtest.Down{oauthtest.Unavailable, oauthtest.Closed} {
		t.Run(fmt.Sprint(down), func(t *testing.T) {
			s := startServer(t, oauthtest.Options{})
			st := loggedIn(t, s, testProvider(s, ""))
			nearExpiry(t, st, time.Hour, time.Minute)
			s.SetDown(down)
			var seen outcomes
			tk := &Tokens{Store: st, OnRefresh: seen.add}
			_, err := tk.Token(testContext(t), testAccount, testPassword)
			if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), testAccount) {
				t.Fatalf("err = %v", err)
			}
			if seen.String() != RefreshUnreachable {
				t.Fatalf("outcomes %q", seen.String())
			}
			s.SetDown(oauthtest.Up)
			if _, err := tk.Token(testContext(t), testAccount, testPassword); err != nil {
				t.Fatalf("up again: %v", err)
			}
		})
	}
}

func TestUnsavedRotationIsKept(t *testing.T) {
	s := startServer(t, oauthtest.Options{})
	st := loggedIn(t, s, testProvider(s, ""))
	nearExpiry(t, st, time.Hour, time.Minute)
	s.SetAccessLifetime(time.Hour)
	// After the refresh, the directory is opened to others: saving is refused.
	tk := &Tokens{Store: st, OnRefresh: func(string) { chmod(st.Dir, 0o755) }}
	_, err := tk.Token(testContext(t), testAccount, testPassword)
	if !errors.Is(err, ErrUnreachable) || s.Refreshes() != 1 {
		t.Fatalf("err = %v after %d refreshes, want ErrUnreachable after 1", err, s.Refreshes())
	}
	chmod(st.Dir, 0o700)
	tk.OnRefresh = nil
	if _, err := tk.Token(testContext(t), testAccount, testPassword); err != nil {
		t.Fatal(err)
	}
	f, _ := st.load(testAccount)
	_, sec, _ := f.openWithPassword(testPassword)
	if !s.Active(sec.RefreshToken) || s.Refreshes() != 1 {
		t.Fatal("the rotated refresh token kept in memory was not saved")
	}
}

func TestWaitingForTheAccountEndsWithTheContext(t *testing.T) {
	tk := &Tokens{Store: newStore(t)}
	a := tk.account(testAccount)
	a.lock <- struct{}{} // another caller holds the account
	ctx, cancel := contextWithCancel(t)
	cancel()
	if _, err := tk.Token(ctx, testAccount, testPassword); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
}

func TestEveryErrorHasOneKindAndNoSecret(t *testing.T) {
	s := startServer(t, oauthtest.Options{ClientSecret: "csecret"})
	st := loggedIn(t, s, testProvider(s, "csecret"))
	nearExpiry(t, st, time.Hour, time.Minute)
	path, _ := st.Path(testAccount)
	kinds := []error{ErrWrongPassword, ErrNoToken, ErrRefreshRefused, ErrUnreachable}
	var texts []string
	check := func(what string, err error, want error) {
		t.Helper()
		n := 0
		for _, k := range kinds {
			if errors.Is(err, k) {
				n++
			}
		}
		if n != 1 || !errors.Is(err, want) {
			t.Errorf("%s: %v wraps %d kinds, want exactly %v", what, err, n, want)
		}
		if err != nil {
			texts = append(texts, err.Error())
		}
	}
	tk := &Tokens{Store: st}
	_, err := tk.Token(testContext(t), testAccount, "wrong")
	check("wrong password", err, ErrWrongPassword)
	s.SetDown(oauthtest.Unavailable)
	_, err = tk.Token(testContext(t), testAccount, testPassword)
	check("503", err, ErrUnreachable)
	s.SetDown(oauthtest.Closed)
	_, err = tk.Token(testContext(t), testAccount, testPassword)
	check("closed", err, ErrUnreachable)
	s.SetDown(oauthtest.Up)
	os.Chmod(path, 0o644)
	_, err = tk.Token(testContext(t), testAccount, testPassword)
	check("mode 0644", err, ErrNoToken)
	os.Chmod(path, 0o600)
	_, err = tk.Token(testContext(t), "bad\naddress", testPassword)
	check("bad address", err, ErrNoToken)
	os.WriteFile(filepath.Join(st.Dir, "junk@example.com.json"), []byte("{"), 0o600)
	_, err = tk.Token(testContext(t), "junk@example.com", testPassword)
	check("junk file", err, ErrNoToken)
	_, err = (&Tokens{Store: st, HTTPClient: &http.Client{Transport: roundTrip(func(*http.Request) (*http.Response, error) {
		return nil, context.DeadlineExceeded
	})}}).Token(testContext(t), testAccount, testPassword)
	check("timeout", err, ErrUnreachable)
	bad := testProvider(s, "wrong-secret")
	st2 := newStore(t)
	g, _ := Login{Provider: testProvider(s, "csecret"), Address: testAccount, Out: io.Discard}.Authorize(testContext(t))
	st2.Save(bad, testAccount, g, testPassword)
	nearExpiry(t, st2, time.Hour, time.Minute)
	_, err = (&Tokens{Store: st2}).Token(testContext(t), testAccount, testPassword)
	check("wrong client secret", err, ErrRefreshRefused)
	if err == nil || !strings.Contains(err.Error(), "--oauth-client-secret") {
		t.Errorf("a refused client: %v", err)
	}
	s.RevokeUser(testAccount)
	_, err = tk.Token(testContext(t), testAccount, testPassword)
	check("revoked", err, ErrRefreshRefused)
	all := strings.Join(texts, "\n")
	for _, secret := range append(s.Secrets(), testPassword, "wrong-secret") {
		if strings.Contains(all, secret) || strings.Contains(all, base64.StdEncoding.EncodeToString([]byte(secret))) {
			t.Errorf("an error holds a secret (%.10s…)", secret)
		}
	}
	for _, text := range texts {
		if !strings.Contains(text, "address") && !strings.Contains(text, testAccount) && !strings.Contains(text, "junk@example.com") {
			t.Errorf("%q names no account", text)
		}
	}
}

// roundTrip is an http.RoundTripper of a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// testPassword is the local password of loggedIn.
const testPassword = "local-PW-secret-1"

func TestUnknownExpiryIsTakenAsAnHour(t *testing.T) {
	issued := time.Now().Add(-50 * time.Minute)
	f := &tokenFile{Account: Account{LastRefresh: issued}}
	if got := f.usableUntil(); !got.Equal(issued.Add(time.Hour)) {
		t.Fatalf("usableUntil = %v, want an hour after %v", got, issued)
	}
	f.Expiry = issued.Add(time.Minute)
	if !f.usableUntil().Equal(f.Expiry) {
		t.Fatal("a known expiry was not used")
	}
}

func TestTheServedProvider(t *testing.T) {
	s := startServer(t, oauthtest.Options{ClientSecret: "csecret"})
	st := loggedIn(t, s, testProvider(s, "csecret"))
	nearExpiry(t, st, time.Hour, time.Minute)
	_, err := (&Tokens{Store: st, Provider: &Provider{Name: "google"}}).Token(testContext(t), testAccount, testPassword)
	if !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "authorised with test, not google") {
		t.Fatalf("another provider: %v", err)
	}
	_, err = (&Tokens{Store: st, Provider: &Provider{Name: "test", ClientSecret: "rotated-away"}}).Token(testContext(t), testAccount, testPassword)
	if !errors.Is(err, ErrRefreshRefused) || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("the served provider's client secret was not used: %v", err)
	}
	other := startServer(t, oauthtest.Options{ClientSecret: "csecret"})
	_, err = (&Tokens{Store: st, Provider: &Provider{Name: "test", TokenURL: other.TokenURL()}}).Token(testContext(t), testAccount, testPassword)
	if !errors.Is(err, ErrRefreshRefused) || s.Refreshes() != 0 {
		t.Fatalf("the served provider's token URL was not used: %v, %d refreshes at the first server", err, s.Refreshes())
	}
	if _, err := (&Tokens{Store: st, Provider: &Provider{Name: "test"}}).Token(testContext(t), testAccount, testPassword); err != nil {
		t.Fatalf("the same provider with nothing to replace: %v", err)
	}
}

func TestShortLivedTokensAreRefreshedOnceForManyCallers(t *testing.T) {
	s := startServer(t, oauthtest.Options{AccessLifetime: 20 * time.Second}) // under the 5-minute margin
	st := loggedIn(t, s, testProvider(s, ""))
	tk := &Tokens{Store: st}
	if _, err := tk.Token(testContext(t), testAccount, testPassword); err != nil || s.Refreshes() != 0 {
		t.Fatalf("a fresh 20-second token: %v, %d refreshes, want none", err, s.Refreshes())
	}
	nearExpiry(t, st, 20*time.Second, 5*time.Second) // past half its life
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := tk.Token(testContext(t), testAccount, testPassword); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := s.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes of a 20-second token for 20 callers, want 1", n)
	}
}
