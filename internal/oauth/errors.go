package oauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// kindError is an error of one of the four kinds: Error is the plain sentence, Unwrap the
// kind.
type kindError struct {
	kind error
	text string
}

func (e *kindError) Error() string { return e.text }
func (e *kindError) Unwrap() error { return e.kind }

// loginHint is the fix for an account without a usable token.
func loginHint(address string) string {
	return "run popwire auth login " + address
}

// noTokenError is ErrNoToken for address.
func noTokenError(address string) error {
	return &kindError{ErrNoToken, fmt.Sprintf("oauth: no token is stored for %s: %s", address, loginHint(address))}
}

// wrongPasswordError is ErrWrongPassword for address.
func wrongPasswordError(address string) error {
	return &kindError{ErrWrongPassword, fmt.Sprintf(
		"oauth: the local password does not unlock the token of %s: give the password chosen at popwire auth login, or %s to choose a new one",
		address, loginHint(address))}
}

// googleTestingHint explains the likeliest cause of a refused Google refresh token.
const googleTestingHint = `; if the Google Cloud app is in "Testing" status, Google expires its refresh tokens after 7 days: set its OAuth consent screen to "In production"`

// providerError classifies err, from a request to p's token endpoint about address, into
// ErrRefreshRefused (the provider answered with a 4xx or an RFC 6749 error) or
// ErrUnreachable (no answer, a timeout, a 5xx). The text names the account and the fix and
// quotes only the RFC 6749 error code, the HTTP status or the network error, never a body.
func providerError(p Provider, address, doing string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if status >= 500 || (status == 0 && re.ErrorCode == "") {
			return &kindError{ErrUnreachable, fmt.Sprintf("oauth: provider %s failed to %s for %s (HTTP %d): try again later",
				p.Name, doing, address, status)}
		}
		code := re.ErrorCode
		if code == "" {
			code = http.StatusText(status)
		}
		text := fmt.Sprintf("oauth: provider %s refused to %s for %s (%s): %s to authorise it again", p.Name, doing, address, code, loginHint(address))
		switch code {
		case "invalid_client", "unauthorized_client":
			text = fmt.Sprintf("oauth: provider %s refused popwire's client to %s for %s (%s): check --oauth-client-id and --oauth-client-secret, then %s",
				p.Name, doing, address, code, loginHint(address))
		case "invalid_grant":
			if p.Name == "google" {
				text += googleTestingHint
			}
		}
		return &kindError{ErrRefreshRefused, text}
	}
	reason := "no answer"
	var ue *url.Error
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		reason = "timed out"
	case errors.Is(err, context.Canceled):
		reason = "cancelled"
	case errors.As(err, &ue):
		reason = ue.Err.Error()
	}
	return &kindError{ErrUnreachable, fmt.Sprintf("oauth: provider %s cannot be reached to %s for %s (%s): check the network and the provider's URLs, then try again",
		p.Name, doing, address, reason)}
}
