package oauth

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// DefaultLoginTimeout bounds a whole authorisation when Login.Timeout is zero: the time a
// person has to approve in the browser or type the device code.
const DefaultLoginTimeout = 10 * time.Minute

// Login authorises one account with its provider, once: the loopback flow (a browser, or
// the address the browser was sent to pasted on In) or the device flow (a code shown on
// Out). Out gets only instructions for the person: no secret.
type Login struct {
	Provider Provider
	Address  string // the account, sent as login_hint to the authorization endpoint
	// Flow is the flow; "" means Provider.Flow, and loopback when that is "" too.
	Flow Flow
	// NoBrowser prints the authorization URL instead of starting a browser.
	NoBrowser bool
	// Out gets the instructions; In, when not nil, the pasted redirect address. In is read
	// line by line on a goroutine until a redirect address comes or In ends, which may be
	// after Authorize returns (os.Stdin does not end): give a Login an In of its own.
	Out io.Writer
	In  io.Reader
	// Browser opens a URL; nil means OpenBrowser.
	Browser func(url string) error
	// HTTPClient makes the requests to the provider; nil means one with a 30 s timeout.
	HTTPClient *http.Client
	// Timeout bounds the whole authorisation; 0 means DefaultLoginTimeout.
	Timeout time.Duration
}

// Grant is what an authorisation gave: the tokens, for Store.Save. It holds secrets and
// prints none.
type Grant struct {
	token *oauth2.Token
}

// Expiry returns when the access token expires; zero if the provider did not say.
func (g Grant) Expiry() time.Time { return g.token.Expiry }

// Scope returns the scopes the provider granted; "" if it did not say.
func (g Grant) Scope() string {
	s, _ := g.token.Extra("scope").(string)
	return s
}

// Authorize runs the flow and returns the grant. Its errors wrap ErrRefreshRefused when
// the provider refused, ErrUnreachable when it could not be asked or the time ran out.
func (l Login) Authorize(ctx context.Context) (Grant, error) {
	if err := l.Provider.Check(); err != nil {
		return Grant{}, err
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = DefaultLoginTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, httpClient(l.HTTPClient))
	flow := l.Flow
	if flow == "" {
		flow = l.Provider.Flow
	}
	var tok *oauth2.Token
	var err error
	switch flow {
	case FlowDevice:
		if l.Provider.DeviceURL == "" {
			return Grant{}, fmt.Errorf("oauth: provider %s has no device flow (for google, its device flow does not allow the mail scope): use --flow loopback, with --no-browser on a machine without one", l.Provider.Name)
		}
		tok, err = l.device(ctx)
	default:
		if l.Provider.AuthURL == "" {
			return Grant{}, fmt.Errorf("oauth: provider %s has no authorization endpoint (--oauth-auth-url): use --flow device", l.Provider.Name)
		}
		tok, err = l.loopback(ctx)
	}
	if err != nil {
		return Grant{}, err
	}
	if tok.RefreshToken == "" {
		return Grant{}, &kindError{ErrRefreshRefused, fmt.Sprintf("oauth: provider %s gave no refresh token for %s, so popwire could not refresh it: check that the scopes include what the provider needs for one (offline_access for microsoft)", l.Provider.Name, l.Address)}
	}
	return Grant{token: tok}, nil
}

// Save stores g for address, authorised with p, sealed under password, replacing any
// earlier token of the account, and returns what the file records in the clear.
func (s *Store) Save(p Provider, address string, g Grant, password string) (Account, error) {
	if _, err := s.Path(address); err != nil {
		return Account{}, err
	}
	acct := Account{Address: address, Provider: p.Name, AuthURL: p.AuthURL, TokenURL: p.TokenURL, DeviceURL: p.DeviceURL,
		RevocationURL: p.RevocationURL, ClientID: p.ClientID, Scopes: p.Scopes, Mechanism: p.Mechanism.String(),
		Tenant: p.Tenant, Scope: g.Scope(), Expiry: g.token.Expiry, LastRefresh: time.Now().UTC()}
	sec := secrets{RefreshToken: g.token.RefreshToken, AccessToken: g.token.AccessToken, ClientSecret: p.ClientSecret}
	return acct, s.create(acct, sec, password)
}

// Lookup returns what the file of address records in the clear; a missing file wraps
// ErrNoToken.
func (s *Store) Lookup(address string) (Account, error) {
	f, err := s.load(address)
	if err != nil {
		return Account{}, err
	}
	return f.Account, nil
}
