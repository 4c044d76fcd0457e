package oauth

import (
	"context"
	"fmt"

	"golang.org/x/oauth2"
)

// device runs the device authorization grant (RFC 8628): it shows the verification address
// and the user code on Out and polls the token endpoint until the person approves, the
// provider refuses, or ctx ends.
func (l Login) device(ctx context.Context) (*oauth2.Token, error) {
	cfg := l.Provider.config("")
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		return nil, providerError(l.Provider, l.Address, "start the device authorization", err)
	}
	fmt.Fprintf(l.Out, "To authorise %s with %s, open\n\n  %s\n\non any device, sign in as %s and enter the code\n\n  %s\n\n",
		l.Address, l.Provider.Name, da.VerificationURI, l.Address, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(l.Out, "(or open %s, which fills in the code)\n", da.VerificationURIComplete)
	}
	fmt.Fprintln(l.Out, "Waiting for the approval…")
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		return nil, providerError(l.Provider, l.Address, "authorise the device", err)
	}
	return tok, nil
}
