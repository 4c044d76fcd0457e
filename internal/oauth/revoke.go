package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrNoRevocation means the account's provider has no revocation endpoint (Microsoft has
// none): deleting the file is all popwire can do.
var ErrNoRevocation = errors.New("oauth: the provider has no revocation endpoint")

// Revoke asks the provider of address to revoke its refresh token (RFC 7009 §2.1), unlocking
// it with password; client nil means one with a 30 s timeout. It does not delete the file.
// A provider without a revocation endpoint gives an error wrapping ErrNoRevocation; the
// other errors wrap one of the four kinds.
func (s *Store) Revoke(ctx context.Context, address, password string, client *http.Client) error {
	f, err := s.load(address)
	if err != nil {
		return err
	}
	if f.RevocationURL == "" {
		return fmt.Errorf("%w (provider %s): to end popwire's access to %s, remove the app in the account's security settings", ErrNoRevocation, f.Provider, address)
	}
	key, sec, err := f.openWithPassword(password)
	if err != nil {
		return err
	}
	clear(key)
	form := url.Values{"token": {sec.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {f.ClientID}}
	if sec.ClientSecret != "" {
		form.Set("client_secret", sec.ClientSecret)
	}
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.RevocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("oauth: the revocation URL of %s is not usable: %w", address, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p := f.provider("")
	resp, err := httpClient(client).Do(req)
	if err != nil {
		return providerError(p, address, "revoke the token", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode >= 500:
		return &kindError{ErrUnreachable, fmt.Sprintf("oauth: provider %s failed to revoke the token of %s (HTTP %d): try again later", p.Name, address, resp.StatusCode)}
	}
	return &kindError{ErrRefreshRefused, fmt.Sprintf("oauth: provider %s refused to revoke the token of %s (HTTP %d): remove the app in the account's security settings", p.Name, address, resp.StatusCode)}
}
