package oauth

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/oauthtest"
)

// TestProcessesSharingAStoreShareOneRefresh: two popwire processes (two Tokens, each with
// its own in-memory state) serve one account from one token directory, as two instances on
// one host do. When its access token nears expiry, callers of both must cause one refresh:
// the provider rotates refresh tokens and refuses a rotated one, so a second refresh with the
// old refresh token would fail (and, at providers that detect reuse, revoke the account).
func TestProcessesSharingAStoreShareOneRefresh(t *testing.T) {
	s := startServer(t, oauthtest.Options{ClientSecret: "csecret"})
	p := testProvider(s, "csecret")
	st := loggedIn(t, s, p)
	nearExpiry(t, st, time.Hour, 2*time.Minute)
	procs := []*Tokens{{Store: &Store{Dir: st.Dir}}, {Store: &Store{Dir: st.Dir}}}
	// Each process has unlocked the account before: the refresh is what they race on.
	for _, tk := range procs {
		tk.Margin = time.Minute
		if _, err := tk.Token(testContext(t), testAccount, testPassword); err != nil {
			t.Fatal(err)
		}
		tk.Margin = 0
	}
	var wg sync.WaitGroup
	const callers = 10
	tokens := make([]string, 2*callers)
	errs := make([]error, 2*callers)
	for i := range tokens {
		tk := procs[i%2]
		wg.Go(func() {
			a, err := tk.Token(testContext(t), testAccount, testPassword)
			tokens[i], errs[i] = a.Token, err
		})
	}
	wg.Wait()
	for i := range tokens {
		if errs[i] != nil {
			t.Fatalf("caller %d (process %d): %v", i, i%2, errs[i])
		}
		if tokens[i] != tokens[0] || !s.Active(tokens[i]) {
			t.Fatalf("caller %d (process %d) got another or an inactive token", i, i%2)
		}
	}
	if n := s.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes for two processes' callers, want 1", n)
	}
	// Both go on with the rotated refresh token the one refresh stored.
	nearExpiry(t, st, time.Hour, 2*time.Minute)
	for i, tk := range procs {
		if _, err := tk.Token(testContext(t), testAccount, testPassword); err != nil {
			t.Fatalf("process %d after the rotation: %v", i, err)
		}
	}
	if n := s.Refreshes(); n != 2 {
		t.Fatalf("%d refreshes after the second expiry, want 2", n)
	}
}

// TestWaitingForAnotherProcessEndsWithTheContext: a process whose refresh hangs (it holds the
// refresh lock) holds up another's caller only until that caller's deadline, which gets a
// temporary error, not a refused account.
func TestWaitingForAnotherProcessEndsWithTheContext(t *testing.T) {
	s := startServer(t, oauthtest.Options{})
	st := loggedIn(t, s, testProvider(s, ""))
	nearExpiry(t, st, time.Hour, 2*time.Minute)
	unlock, err := (&Store{Dir: st.Dir}).lockRefresh(testContext(t), testAccount)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(testContext(t), 100*time.Millisecond)
	defer cancel()
	_, err = (&Tokens{Store: st}).Token(ctx, testAccount, testPassword)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "another popwire") {
		t.Fatalf("Token while another process holds the refresh lock = %v, want ErrUnreachable naming the wait", err)
	}
	if n := s.Refreshes(); n != 0 {
		t.Fatalf("%d refreshes while the lock was held, want 0", n)
	}
}

// TestLogoutRemovesTheRefreshLock: auth logout leaves nothing of the account behind, and
// auth list never shows a lock file.
func TestLogoutRemovesTheRefreshLock(t *testing.T) {
	s := startServer(t, oauthtest.Options{})
	st := loggedIn(t, s, testProvider(s, ""))
	nearExpiry(t, st, time.Hour, 2*time.Minute)
	if _, err := (&Tokens{Store: st}).Token(testContext(t), testAccount, testPassword); err != nil {
		t.Fatal(err)
	}
	if accts, err := st.List(); err != nil || len(accts) != 1 {
		t.Fatalf("List = %v, %v; want the one account", accts, err)
	}
	if err := st.Delete(testAccount); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(st.Dir); len(left) != 0 {
		t.Fatalf("after logout the directory holds %v", left)
	}
}

// TestAccessCarriesTheAccountsMechanism: the mechanism chosen at auth login (recorded in the
// file) is the one each Access names, before and after a refresh, so that serve logs in with
// it unless told otherwise.
func TestAccessCarriesTheAccountsMechanism(t *testing.T) {
	for _, mech := range []Mechanism{XOAUTH2, OAUTHBEARER} {
		t.Run(mech.String(), func(t *testing.T) {
			s := startServer(t, oauthtest.Options{})
			p := testProvider(s, "")
			p.Mechanism = mech
			st := loggedIn(t, s, p)
			tk := &Tokens{Store: st}
			a, err := tk.Token(testContext(t), testAccount, testPassword)
			if err != nil || a.Mechanism != mech {
				t.Fatalf("fresh token: mechanism %v, %v; want %v", a.Mechanism, err, mech)
			}
			nearExpiry(t, st, time.Hour, time.Minute)
			a, err = tk.Token(testContext(t), testAccount, testPassword)
			if err != nil || a.Mechanism != mech || s.Refreshes() != 1 {
				t.Fatalf("refreshed token: mechanism %v, %v, %d refreshes; want %v after 1", a.Mechanism, err, s.Refreshes(), mech)
			}
		})
	}
}
