package probe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/popclient"
)

// oauthLogin is the login step with an OAuth token: it asks the Source for User's access
// token, then logs in with AUTH mech in the two-step form (the command, the server's "+ ",
// then the response: Microsoft refuses the one-line form). A refused token's error challenge
// is completed (XOAUTH2: an empty line; OAUTHBEARER: %x01, RFC 7628 §3.2.3) and its status
// and scope shown. The step shows the token's scope and expiry, never the token.
func (p *prober) oauthLogin(ctx context.Context) bool {
	start := time.Now()
	sctx, cancel := p.step(ctx)
	defer cancel()
	acc, err := p.o.OAuth.Token(sctx, p.o.User, p.o.Password)
	if err != nil {
		s := p.r.add(StepLogin, start, false)
		s.Summary, s.Error, s.Hint = "no access token for "+p.o.User, err.Error(), tokenHint(err, p.o.User)
		return false
	}
	mech := acc.Mechanism
	if m := p.o.OAuthMechanism; m != nil {
		mech = *m
	}
	how := "AUTH " + mech.String()
	blob, secrets := mech.Respond(p.o.User, acc.Token)
	p.secrets = append(p.secrets, secrets...)
	details := tokenDetails(acc, time.Now())
	r, err := p.c.Do(sctx, how)
	if err == nil && r.Kind == popclient.PartChallenge {
		r, err = p.c.Do(sctx, blob)
		if err == nil && r.Kind == popclient.PartChallenge {
			details = append(details, "the server refused the token: "+bearerStatus(r.Text))
			r, err = p.c.Do(sctx, mech.ErrorAnswer())
		}
	}
	if err != nil {
		p.broken = true
		s := p.r.add(StepLogin, start, false)
		s.Summary, s.Error, s.Details = "login with "+how+" got no answer", err.Error(), details
		return false
	}
	if !r.OK() {
		s := p.r.add(StepLogin, start, false)
		s.Summary, s.Error, s.Details = fmt.Sprintf("login as %s with %s (two-step) failed", p.o.User, how), r.Line, details
		s.Hint = replyHint(r.Reply, "AUTH", p.caps.loginDelay)
		if r.Kind == popclient.PartChallenge {
			p.broken = true // a third challenge: the exchange is not over
		}
		return false
	}
	s := p.r.add(StepLogin, start, true)
	s.Summary = fmt.Sprintf("logged in as %s with %s (two-step): %s", p.o.User, how, r.Line)
	s.Details = details
	return true
}

// tokenDetails describes an access token without showing it: its scope and its expiry.
func tokenDetails(acc oauth.Access, now time.Time) []string {
	scope, expiry := acc.Scope, "not given by the provider"
	if scope == "" {
		scope = "not given by the provider"
	}
	if !acc.Expiry.IsZero() {
		expiry = fmt.Sprintf("%s (in %s)", acc.Expiry.UTC().Format(time.RFC3339), acc.Expiry.Sub(now).Round(time.Second))
	}
	return []string{"token scope: " + scope, "token expires: " + expiry}
}

// bearerStatus describes the error challenge of a refused bearer token (oauth.ErrorChallenge)
// by its status and scope.
func bearerStatus(b64 string) string {
	status, scope, ok := oauth.ErrorChallenge(b64)
	if !ok {
		return "an error challenge that is not base64 JSON"
	}
	return fmt.Sprintf("status %q, scope %q", status, scope)
}

// tokenHint explains a Source that gave no token for user.
func tokenHint(err error, user string) string {
	switch {
	case errors.Is(err, oauth.ErrWrongPassword):
		return "the local password does not unlock this account's token: give the password chosen at popwire auth login"
	case errors.Is(err, oauth.ErrNoToken):
		return "no token is stored for this account: run popwire auth login " + user + " first"
	case errors.Is(err, oauth.ErrRefreshRefused):
		return "the provider no longer accepts this account's authorisation: run popwire auth login " + user + " again"
	case errors.Is(err, oauth.ErrUnreachable):
		return "the OAuth provider cannot be reached: check the network, then try again"
	}
	return "the access token could not be obtained"
}
