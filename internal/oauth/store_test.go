package oauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// testGrant is a grant with the given tokens, valid for an hour.
func testGrant(access, refresh string) Grant {
	tok := (&oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: time.Now().Add(time.Hour)}).
		WithExtra(map[string]any{"scope": "mail"})
	return Grant{token: tok}
}

// newStore is a Store in a fresh directory of the test.
func newStore(t *testing.T) *Store {
	return &Store{Dir: filepath.Join(t.TempDir(), "popwire", "accounts")}
}

var storeProvider = Provider{Name: "test", TokenURL: "http://127.0.0.1:9/token", RevocationURL: "http://127.0.0.1:9/revoke",
	ClientID: "cid", ClientSecret: "client-SECRET-1", Scopes: []string{"mail"}}

func TestStoreModesAndContent(t *testing.T) {
	st := newStore(t)
	acct, err := st.Save(storeProvider, testAccount, testGrant("access-SECRET-1", "refresh-SECRET-1"), "local-pw")
	if err != nil {
		t.Fatal(err)
	}
	if acct.Scope != "mail" || acct.Mechanism != "XOAUTH2" || acct.ClientID != "cid" {
		t.Fatalf("account %+v", acct)
	}
	info, err := os.Stat(st.Dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v (%v), want 0700", info.Mode().Perm(), err)
	}
	path := filepath.Join(st.Dir, testAccount+".json")
	info, err = os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v (%v), want 0600", info.Mode().Perm(), err)
	}
	b, _ := os.ReadFile(path)
	for _, secret := range []string{"access-SECRET-1", "refresh-SECRET-1", "client-SECRET-1", "local-pw"} {
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), base64.RawURLEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(string(b), form) {
				t.Errorf("the file holds %q in the clear", form)
			}
		}
	}
	for _, want := range []string{`"token_url": "http://127.0.0.1:9/token"`, `"client_id": "cid"`, `"expiry"`, `"last_refresh"`, `"scope": "mail"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the file lacks %s:\n%s", want, b)
		}
	}
	entries, _ := os.ReadDir(st.Dir)
	if len(entries) != 1 {
		t.Fatalf("the directory holds %d entries, want the one file (no temporary left)", len(entries))
	}
	list, err := st.List()
	if err != nil || len(list) != 1 || list[0].Address != testAccount {
		t.Fatalf("List = %v, %v", list, err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lookup(testAccount); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a file of mode 0644: %v, want a refusal saying chmod 600", err)
	}
	os.Chmod(path, 0o600)
	if err := os.Chmod(st.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lookup(testAccount); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("a directory of mode 0755: %v, want a refusal saying chmod 700", err)
	}
	if _, err := st.Save(storeProvider, testAccount, testGrant("a", "r"), "pw"); err == nil {
		t.Fatal("Save wrote into a directory of mode 0755")
	}
	os.Chmod(st.Dir, 0o700)
	link := filepath.Join(st.Dir, "bob@example.com.json")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lookup("bob@example.com"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a symbolic link: %v", err)
	}
}

func TestStoreReplacesAtomically(t *testing.T) {
	st := newStore(t)
	if _, err := st.Save(storeProvider, testAccount, testGrant("a1", "r1"), "pw"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(st.Dir, testAccount+".json")
	before, _ := os.Stat(path)
	f, err := os.Open(path) // a reader that has the old file open keeps reading the old file
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old, _ := io.ReadAll(f)
	if _, err := st.Save(storeProvider, testAccount, testGrant("a2", "r2"), "pw"); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if os.SameFile(before, after) {
		t.Fatal("the file was rewritten in place, not replaced by a rename")
	}
	f.Seek(0, io.SeekStart)
	if again, _ := io.ReadAll(f); string(again) != string(old) {
		t.Fatal("the old file changed under its reader")
	}
	tk := &Tokens{Store: st}
	a := tk.account(testAccount)
	ff, _ := st.load(testAccount)
	if err := tk.unlock(a, ff, testAccount, "pw"); err != nil || a.sec.RefreshToken != "r2" {
		t.Fatalf("after the second Save: %v, refresh token %q", err, a.sec.RefreshToken)
	}
}

func TestCopiedFileIsUselessWithoutThePassword(t *testing.T) {
	st := newStore(t)
	if _, err := st.Save(storeProvider, testAccount, testGrant("a1", "r1"), "the-right-one"); err != nil {
		t.Fatal(err)
	}
	other := newStore(t)
	os.MkdirAll(other.Dir, 0o700)
	b, _ := os.ReadFile(filepath.Join(st.Dir, testAccount+".json"))
	os.WriteFile(filepath.Join(other.Dir, testAccount+".json"), b, 0o600)
	for _, pw := range []string{"", "the-wrong-one", "the-right-on"} {
		_, err := (&Tokens{Store: other}).Token(testContext(t), testAccount, pw)
		if !errors.Is(err, ErrWrongPassword) || !strings.Contains(err.Error(), testAccount) {
			t.Fatalf("password %q: %v, want ErrWrongPassword naming the account", pw, err)
		}
	}
	// Pointing the copy at another token endpoint breaks its seal, so that no password sends
	// the refresh token elsewhere.
	forged := strings.Replace(string(b), "http://127.0.0.1:9/token", "http://127.0.0.1:8/token", 1)
	os.WriteFile(filepath.Join(other.Dir, testAccount+".json"), []byte(forged), 0o600)
	if _, err := (&Tokens{Store: other}).Token(testContext(t), testAccount, "the-right-one"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("an edited file: %v, want ErrWrongPassword", err)
	}
	if err := other.Revoke(testContext(t), testAccount, "the-right-one", nil); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("revoking with an edited file: %v, want ErrWrongPassword", err)
	}
}

// TestUnusableKeyDerivation: a file whose key derivation popwire refuses (an edited N) holds
// no usable token for Token and Revoke alike: ErrNoToken, with the fix.
func TestUnusableKeyDerivation(t *testing.T) {
	st := newStore(t)
	if _, err := st.Save(storeProvider, testAccount, testGrant("a1", "r1"), testPassword); err != nil {
		t.Fatal(err)
	}
	f, err := st.load(testAccount)
	if err != nil {
		t.Fatal(err)
	}
	f.KDF.N = 2 * maxScryptN
	if err := st.write(f); err != nil {
		t.Fatal(err)
	}
	_, err = (&Tokens{Store: st}).Token(testContext(t), testAccount, testPassword)
	for what, err := range map[string]error{"Token": err, "Revoke": st.Revoke(testContext(t), testAccount, testPassword, nil)} {
		if !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "popwire auth login "+testAccount) {
			t.Errorf("%s: %v, want ErrNoToken with the fix", what, err)
		}
	}
}

func TestStorePathSafety(t *testing.T) {
	st := newStore(t)
	for _, addr := range []string{"../../evil@example.com", "a/b@example.com", `a\b@x`, ".hidden", "..", "%41", "A", "Ann@Example.COM", "ünï@ex.com"} {
		path, err := st.Path(addr)
		if err != nil {
			t.Fatalf("%q: %v", addr, err)
		}
		if filepath.Dir(path) != st.Dir || strings.HasPrefix(filepath.Base(path), ".") {
			t.Errorf("%q maps to %s, outside %s or hidden", addr, path, st.Dir)
		}
		if _, err := st.Save(storeProvider, addr, testGrant("a", "r"), "pw"); err != nil {
			t.Fatalf("%q: %v", addr, err)
		}
		if acct, err := st.Lookup(addr); err != nil || acct.Address != addr {
			t.Fatalf("%q: Lookup = %v, %v", addr, acct.Address, err)
		}
	}
	if _, err := st.Lookup("a"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Lookup(a) = %v: %%41 and A must not name it", err)
	}
	list, _ := st.List()
	if len(list) != 9 {
		t.Fatalf("List has %d accounts, want 9", len(list))
	}
	for _, bad := range []string{"", "a\nb", "a\x00b", strings.Repeat("a", 321)} {
		if _, err := st.Path(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
	if err := st.Delete("nobody@example.com"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Delete of a missing account: %v", err)
	}
	if err := st.Delete("../../evil@example.com"); err != nil {
		t.Fatal(err)
	}
}

func TestNoTokenInAnEmptyStore(t *testing.T) {
	st := newStore(t)
	tk := &Tokens{Store: st}
	_, err := tk.Token(testContext(t), testAccount, "pw")
	if !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "run popwire auth login "+testAccount) {
		t.Fatalf("err = %v", err)
	}
	for i := range 100 {
		tk.Token(testContext(t), fmt.Sprintf("user%d@example.com", i), "pw")
	}
	if n := len(tk.accounts); n != 0 {
		t.Fatalf("Tokens keeps %d entries for addresses without a file", n)
	}
	if list, err := st.List(); err != nil || len(list) != 0 {
		t.Fatalf("List = %v, %v", list, err)
	}
}
