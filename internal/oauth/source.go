// Package oauth gives popwire's OAuth bridge its access tokens: the providers, the flows that
// authorise an account once, the encrypted token store, and the refreshes.
package oauth

import (
	"context"
	"errors"
	"time"
)

// The kinds of failure a Source reports. Every error a Source returns wraps exactly one of
// them, so that a caller can pick the reply (errors.Is); the error's text is a plain sentence
// that never contains a secret.
var (
	// ErrWrongPassword means the local password does not unlock the account's stored token.
	ErrWrongPassword = errors.New("oauth: wrong local password")
	// ErrNoToken means no token is stored for the account: it has to be authorised first.
	ErrNoToken = errors.New("oauth: no token is stored for this account")
	// ErrRefreshRefused means the provider refused the refresh token (invalid_grant): the
	// account has to be authorised again.
	ErrRefreshRefused = errors.New("oauth: the provider refused the refresh token")
	// ErrUnreachable means the provider could not be asked (network, timeout, 5xx): a
	// temporary failure.
	ErrUnreachable = errors.New("oauth: the provider cannot be reached")
)

// Source gives access tokens for accounts. It is what `serve --oauth` needs of the token
// store; implementations must be safe for concurrent use.
type Source interface {
	// Token returns an access token for account that stays valid for at least a few
	// minutes, unlocking the account's stored refresh token with password and refreshing
	// when needed. ctx bounds any request to the provider.
	Token(ctx context.Context, account, password string) (Access, error)
}

// Access is an access token and what is known about it. Token is a secret: it must never
// reach any output.
type Access struct {
	Token  string    // the bearer token
	Expiry time.Time // when the provider says it expires; zero if it did not say
	Scope  string    // the granted scopes, space-separated; "" if the provider did not say
	// Mechanism is the SASL mechanism the account was authorised for at auth login (its
	// provider's, unless --oauth-mechanism chose another); the zero value is XOAUTH2.
	Mechanism Mechanism
}
