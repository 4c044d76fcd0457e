package oauth

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/oauth2"
)

// Flow is how `auth login` authorises an account.
type Flow string

// The flows.
const (
	// FlowLoopback is the installed-app flow: a browser, a redirect to 127.0.0.1 and PKCE
	// (RFC 8252, RFC 7636).
	FlowLoopback Flow = "loopback"
	// FlowDevice is the device authorization grant (RFC 8628): a code typed on any device.
	FlowDevice Flow = "device"
)

// ParseFlow reads a --flow value: loopback or device.
func ParseFlow(s string) (Flow, error) {
	switch f := Flow(strings.ToLower(s)); f {
	case FlowLoopback, FlowDevice:
		return f, nil
	}
	return "", fmt.Errorf("oauth: unknown flow %q: use loopback or device", s)
}

// ParseMechanism reads a --oauth-mechanism value: xoauth2 or oauthbearer.
func ParseMechanism(s string) (Mechanism, error) {
	switch strings.ToLower(s) {
	case "xoauth2":
		return XOAUTH2, nil
	case "oauthbearer":
		return OAUTHBEARER, nil
	}
	return 0, fmt.Errorf("oauth: unknown mechanism %q: use xoauth2 or oauthbearer", s)
}

// Provider is an OAuth 2.0 provider and popwire's client registration with it. The
// endpoints are absolute URLs; "" means the provider has none (DeviceURL: no device flow,
// RevocationURL: no RFC 7009 revocation, AuthURL: no loopback flow).
type Provider struct {
	Name          string    // google, microsoft, or the name given to a custom provider
	AuthURL       string    // authorization endpoint (RFC 6749 §3.1)
	TokenURL      string    // token endpoint (RFC 6749 §3.2)
	DeviceURL     string    // device authorization endpoint (RFC 8628 §3.1)
	RevocationURL string    // revocation endpoint (RFC 7009 §2)
	ClientID      string    // the client registered by the user; popwire ships none
	ClientSecret  string    // the client's secret; "" for a public client. A secret.
	Scopes        []string  // the scopes asked for
	Mechanism     Mechanism // the SASL mechanism the upstream server wants
	Tenant        string    // Microsoft's authority: consumers, organizations, common or a tenant ID; "" elsewhere
	Flow          Flow      // the flow `auth login` uses unless told otherwise
}

// Google's endpoints (https://developers.google.com/identity/protocols/oauth2/native-app).
const (
	googleAuthURL   = "https://accounts.google.com/o/oauth2/v2/auth"
	googleTokenURL  = "https://oauth2.googleapis.com/token"
	googleRevokeURL = "https://oauth2.googleapis.com/revoke"
	googleMailScope = "https://mail.google.com/"
	microsoftBase   = "https://login.microsoftonline.com/"
	microsoftPOP    = "https://outlook.office.com/POP.AccessAsUser.All"
)

// tenantRE is what a Microsoft tenant may be: consumers, organizations, common, a GUID or a
// domain name; it keeps the tenant from changing the endpoint URLs' paths.
var tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$`)

// Builtin returns the built-in provider name (google or microsoft), with tenant for
// Microsoft ("" means consumers, for personal accounts; organizations, common or a tenant
// ID for work accounts). It reports false for any other name. The result has no client ID.
func Builtin(name, tenant string) (Provider, bool, error) {
	switch strings.ToLower(name) {
	case "google":
		if tenant != "" {
			return Provider{}, true, fmt.Errorf("oauth: --oauth-tenant is for microsoft, not google")
		}
		return Provider{Name: "google", AuthURL: googleAuthURL, TokenURL: googleTokenURL, RevocationURL: googleRevokeURL,
			Scopes: []string{googleMailScope}, Mechanism: XOAUTH2, Flow: FlowLoopback}, true, nil
	case "microsoft":
		if tenant == "" {
			tenant = "consumers"
		}
		if !tenantRE.MatchString(tenant) {
			return Provider{}, true, fmt.Errorf("oauth: --oauth-tenant %q is not consumers, organizations, common, a tenant ID or a domain", tenant)
		}
		base := microsoftBase + tenant + "/oauth2/v2.0/"
		return Provider{Name: "microsoft", AuthURL: base + "authorize", TokenURL: base + "token", DeviceURL: base + "devicecode",
			Scopes: []string{microsoftPOP, "offline_access"}, Mechanism: XOAUTH2, Tenant: tenant, Flow: FlowDevice}, true, nil
	}
	return Provider{}, false, nil
}

// Check reports what keeps p from being used: no client ID (popwire ships none: the README
// says how to register one), no token endpoint, or an endpoint that is not an absolute URL.
func (p Provider) Check() error {
	if p.ClientID == "" {
		return fmt.Errorf("oauth: provider %s needs --oauth-client-id: popwire ships no client ID; register one as the README's section on %s says", p.Name, p.Name)
	}
	if p.TokenURL == "" {
		return fmt.Errorf("oauth: provider %s needs --oauth-token-url", p.Name)
	}
	for _, u := range []string{p.AuthURL, p.TokenURL, p.DeviceURL, p.RevocationURL} {
		if u != "" && !secureEndpoint(u) {
			return fmt.Errorf("oauth: provider %s: endpoint %q is neither an https URL nor an http one on a loopback address: tokens must not cross a network in clear", p.Name, u)
		}
	}
	return nil
}

// secureEndpoint reports whether u is an https URL, or an http URL on a loopback address (a
// local test server).
func secureEndpoint(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Host == "" {
		return false
	}
	if parsed.Scheme == "https" {
		return true
	}
	addr, err := netip.ParseAddr(parsed.Hostname())
	return parsed.Scheme == "http" && (parsed.Hostname() == "localhost" || err == nil && addr.IsLoopback())
}

// config is p as golang.org/x/oauth2 wants it, redirecting to redirect ("" for none). The
// client credentials go in the form body: with AuthStyle unset, x/oauth2 retries a refused
// request with the other style, which turns a pending device poll into slow_down.
func (p Provider) config(redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: p.ClientSecret,
		Endpoint: oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL, DeviceAuthURL: p.DeviceURL,
			AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirect,
		Scopes:      p.Scopes,
	}
}
