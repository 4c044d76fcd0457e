package oauth

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// The outcomes Tokens.OnRefresh is called with.
const (
	RefreshOK          = "ok"
	RefreshRefused     = "refused"
	RefreshUnreachable = "unreachable"
)

// DefaultMargin is how close to its expiry an access token is refreshed when Tokens.Margin
// is zero (or half its lifetime, when that is shorter).
const DefaultMargin = 5 * time.Minute

// refreshTimeout bounds one refresh, whatever the caller's context allows.
const refreshTimeout = 30 * time.Second

// httpClient returns c, or when c is nil a client whose requests time out after
// refreshTimeout: the client of Tokens, Login and Revoke when none is given.
func httpClient(c *http.Client) *http.Client {
	if c == nil {
		return &http.Client{Timeout: refreshTimeout}
	}
	return c
}

// Tokens is the Source of the token store: it unlocks an account's file with the local
// password, keeps the derived key in memory after the first successful unlock (so later
// logins cost a constant-time comparison, not a key derivation), refreshes the access token
// when it is within Margin (or half its lifetime) of its expiry, and saves a rotated refresh token at once. Calls
// for one account are serialised, so many concurrent callers near expiry cause one refresh;
// so are the refreshes of popwire processes sharing the Store's directory (Store.lockRefresh).
// The file is read at each call, so a new `auth login` or `auth logout` takes effect at
// once. Set the exported fields before the first Token call; the zero value is not usable
// (Store is required).
type Tokens struct {
	// Store holds the token files.
	Store *Store
	// HTTPClient makes the requests to the provider; nil means one with a 30 s timeout.
	HTTPClient *http.Client
	// Margin is how close to expiry an access token is refreshed, at most half its
	// lifetime; 0 means DefaultMargin.
	Margin time.Duration
	// Provider, when set, is the provider the caller serves (serve --oauth and the provider
	// flags): an account authorised with a provider of another name is refused (ErrNoToken),
	// and Provider's TokenURL, ClientID and ClientSecret, those that are not empty, replace
	// at refresh the ones recorded at auth login. Nil uses what the file records.
	Provider *Provider
	// OnRefresh, when set, is called after each refresh attempt with RefreshOK,
	// RefreshRefused or RefreshUnreachable, for metrics. It must not block.
	OnRefresh func(outcome string)

	once     sync.Once
	pepper   []byte              // random, for the in-memory password hashes
	mu       sync.Mutex          // guards accounts
	accounts map[string]*account // by address; only addresses with a file stay
}

// account is what Tokens keeps of one unlocked account. lock, a channel of capacity one,
// is held by the one caller working on the account; it guards the other fields.
type account struct {
	lock    chan struct{}
	salt    []byte     // the KDF salt of the file key was derived for; nil before an unlock
	key     []byte     // the file key; a secret
	pwHash  [32]byte   // SHA-256 of pepper and the password that derived key
	sealed  []byte     // the sealed part of the file as last read or written
	sec     secrets    // what sealed holds; secrets
	pending *tokenFile // the file to save, when sec holds a rotated refresh token not yet saved; nil when none
}

// Token implements Source.
func (t *Tokens) Token(ctx context.Context, address, password string) (Access, error) {
	a := t.account(address)
	select {
	case a.lock <- struct{}{}:
	case <-ctx.Done():
		return Access{}, &kindError{ErrUnreachable, fmt.Sprintf("oauth: gave up waiting for the refresh of %s's token: try again", address)}
	}
	defer func() { <-a.lock }()

	f, err := t.current(a, address, password)
	if err != nil || t.fresh(a, f) {
		return t.access(a, f, err)
	}
	// A refresh is due. Other popwire processes may share the store: take its refresh lock,
	// then read the file again, as one of them may have refreshed while this one waited.
	unlock, err := t.Store.lockRefresh(ctx, address)
	if err != nil {
		return Access{}, err
	}
	defer unlock()
	if f, err = t.current(a, address, password); err != nil || t.fresh(a, f) {
		return t.access(a, f, err)
	}
	return t.refresh(ctx, a, f)
}

// current reads the file of address and makes a hold its secrets for password, saving first
// a rotated refresh token an earlier save failed to store. a's lock is held.
func (t *Tokens) current(a *account, address, password string) (*tokenFile, error) {
	f, err := t.Store.load(address)
	if err != nil {
		a.forget()
		t.drop(address, a)
		return nil, err
	}
	if t.Provider != nil && f.Provider != t.Provider.Name {
		return nil, &kindError{ErrNoToken, fmt.Sprintf("oauth: %s is authorised with %s, not %s: %s --provider %s", address, f.Provider,
			t.Provider.Name, loginHint(address), t.Provider.Name)}
	}
	if err := t.unlock(a, f, address, password); err != nil {
		return nil, err
	}
	if a.pending != nil {
		f = a.pending
		if err := t.save(a, f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// fresh reports whether a holds an access token that f says is usable for longer than the
// refresh margin.
func (t *Tokens) fresh(a *account, f *tokenFile) bool {
	return a.sec.AccessToken != "" && time.Until(f.usableUntil()) > t.margin(f)
}

// access returns a's access token as f describes it, or err.
func (t *Tokens) access(a *account, f *tokenFile, err error) (Access, error) {
	if err != nil {
		return Access{}, err
	}
	return Access{Token: a.sec.AccessToken, Expiry: f.Expiry, Scope: f.Scope, Mechanism: f.provider("").Mechanism}, nil
}

// margin returns how close to its expiry f's access token is refreshed: Margin, or half the
// token's lifetime when that is shorter, so that a provider's short-lived tokens are not
// refreshed at every call.
func (t *Tokens) margin(f *tokenFile) time.Duration {
	margin := t.Margin
	if margin <= 0 {
		margin = DefaultMargin
	}
	if life := f.usableUntil().Sub(f.LastRefresh); life > 0 && life/2 < margin {
		margin = life / 2
	}
	return margin
}

// account returns the entry of address, creating it.
func (t *Tokens) account(address string) *account {
	t.once.Do(func() {
		t.pepper = make([]byte, 32)
		_, _ = rand.Read(t.pepper) // crypto/rand.Read never fails
		t.accounts = map[string]*account{}
	})
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.accounts[address]
	if a == nil {
		a = &account{lock: make(chan struct{}, 1)}
		t.accounts[address] = a
	}
	return a
}

// drop removes a, the entry of an address without a usable file, so that the entries stay
// as many as the accounts (a client may try any number of addresses). A caller still
// waiting on a's lock then finds no file either.
func (t *Tokens) drop(address string, a *account) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.accounts[address] == a {
		delete(t.accounts, address)
	}
}

// hash returns the in-memory hash of password.
func (t *Tokens) hash(password string) [32]byte {
	return sha256.Sum256(append(append([]byte(nil), t.pepper...), password...))
}

// forget drops what a holds, as when its file went away or changed its salt.
func (a *account) forget() {
	clear(a.key)
	*a = account{lock: a.lock}
}

// unlock makes a hold f's secrets for password: with the key in memory when f has the salt
// it was derived for and password is the one that derived it (compared in constant time),
// else with a key derivation. A file that changed since (another popwire refreshed it) is
// opened again with the key.
func (t *Tokens) unlock(a *account, f *tokenFile, address, password string) error {
	h := t.hash(password)
	if a.key != nil && !bytes.Equal(a.salt, f.KDF.Salt) {
		a.forget() // a new auth login chose a new password
	}
	if a.key != nil {
		if subtle.ConstantTimeCompare(h[:], a.pwHash[:]) != 1 {
			return wrongPasswordError(address)
		}
		if a.pending != nil || bytes.Equal(a.sealed, f.Sealed) {
			return nil
		}
		sec, err := f.openWith(a.key)
		if err != nil {
			a.forget()
			return wrongPasswordError(address)
		}
		a.sealed, a.sec = f.Sealed, sec
		return nil
	}
	key, sec, err := f.openWithPassword(password)
	if err != nil {
		return err
	}
	a.salt, a.key, a.pwHash, a.sealed, a.sec = f.KDF.Salt, key, h, f.Sealed, sec
	return nil
}

// assumedLifetime is how long an access token is taken to live when the provider did not
// say (RFC 6749 §5.1 makes expires_in optional): the lifetime Google and Microsoft give.
const assumedLifetime = time.Hour

// usableUntil returns when f's access token expires: its recorded expiry or, when the
// provider did not say, assumedLifetime after it was issued.
func (f *tokenFile) usableUntil() time.Time {
	if f.Expiry.IsZero() {
		return f.LastRefresh.Add(assumedLifetime)
	}
	return f.Expiry
}

// refresh gets a new access token with a's refresh token, stores it with a rotated refresh
// token, and reports the outcome to OnRefresh.
func (t *Tokens) refresh(ctx context.Context, a *account, f *tokenFile) (Access, error) {
	p := f.provider(a.sec.ClientSecret)
	if o := t.Provider; o != nil {
		p.TokenURL, p.ClientID, p.ClientSecret = cmp.Or(o.TokenURL, p.TokenURL), cmp.Or(o.ClientID, p.ClientID), cmp.Or(o.ClientSecret, p.ClientSecret)
	}
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, httpClient(t.HTTPClient))
	tok, err := p.config("").TokenSource(ctx, &oauth2.Token{RefreshToken: a.sec.RefreshToken}).Token()
	if err != nil {
		err = providerError(p, f.Address, "refresh the token", err)
		outcome := RefreshUnreachable
		if errors.Is(err, ErrRefreshRefused) {
			outcome = RefreshRefused
		}
		t.report(outcome)
		return Access{}, err
	}
	t.report(RefreshOK)
	a.sec.AccessToken = tok.AccessToken
	if tok.RefreshToken != "" {
		a.sec.RefreshToken = tok.RefreshToken
	}
	f.Expiry, f.LastRefresh = tok.Expiry, time.Now().UTC()
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		f.Scope = s
	}
	a.pending = f
	if err := t.save(a, f); err != nil {
		return Access{}, err
	}
	return Access{Token: tok.AccessToken, Expiry: tok.Expiry, Scope: f.Scope, Mechanism: p.Mechanism}, nil
}

// save seals a's secrets into f and writes it. On failure a keeps f pending, so that the next
// call tries again with the rotated refresh token it holds; the error wraps ErrUnreachable
// (a temporary failure, for the client's answer).
func (t *Tokens) save(a *account, f *tokenFile) error {
	if err := f.sealWith(a.key, a.sec); err != nil {
		return &kindError{ErrUnreachable, fmt.Sprintf("oauth: cannot seal the refreshed token of %s: %v", f.Address, err)}
	}
	if err := t.Store.write(f); err != nil {
		return &kindError{ErrUnreachable, fmt.Sprintf("%v (popwire keeps the new token in memory and saves it at the next login)", err)}
	}
	a.sealed, a.pending = f.Sealed, nil
	return nil
}

// report calls OnRefresh, if set.
func (t *Tokens) report(outcome string) {
	if t.OnRefresh != nil {
		t.OnRefresh(outcome)
	}
}
