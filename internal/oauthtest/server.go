package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Grant types, as the token endpoint's grant_type and as Served's key.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantRefreshToken      = "refresh_token"
)

// Options configure a Server. The zero value is a public client of any client_id that has
// to name the account with login_hint, with one-hour access tokens, device codes approved at
// once, rotation on, and introspection open.
type Options struct {
	// ClientID is the one client_id accepted; "" accepts any.
	ClientID string
	// ClientSecret, when set, must accompany ClientID at the token and revocation
	// endpoints (form body or HTTP Basic); "" makes the client public.
	ClientSecret string
	// User is the account approved when /authorize has no login_hint, and the account
	// every device code is approved for; "" makes a request without login_hint, and any
	// device authorization, access_denied.
	User string
	// AccessLifetime is how long an access token lives; 0 means one hour.
	AccessLifetime time.Duration
	// DevicePolls is how many token requests for a device code get authorization_pending
	// before it is approved; 0 approves at the first poll.
	DevicePolls int
	// NoRotation keeps the refresh token on a refresh, as Google does; by default each
	// refresh returns a new refresh token and the old one is refused from then on.
	NoRotation bool
	// IntrospectionClientID and IntrospectionClientSecret, when the ID is set, are the
	// credentials /introspect requires (form body, as Dovecot sends them, or HTTP Basic).
	IntrospectionClientID, IntrospectionClientSecret string
}

// Down is how a Server answers while a test has it down.
type Down int

// The states SetDown takes.
const (
	// Up answers normally.
	Up Down = iota
	// Unavailable answers every request with 503 Service Unavailable.
	Unavailable
	// Closed closes every connection without an answer.
	Closed
)

// Server is a running authorization server on 127.0.0.1. Its methods are safe for
// concurrent use; mu guards every field below it.
type Server struct {
	// URL is the base URL, http://127.0.0.1:PORT, without a trailing slash.
	URL string

	opts Options
	srv  *http.Server

	mu             sync.Mutex
	down           Down
	lifetime       time.Duration
	codes          map[string]*authCode
	devices        map[string]*deviceCode
	access         map[string]*accessToken
	refresh        map[string]*refreshToken
	served         map[string]int
	introspections int
	secrets        []string
}

// authCode is an authorization code waiting for its token request.
type authCode struct {
	user, scope, redirect, challenge string
	expires                          time.Time
}

// deviceCode is a device authorization; pending counts the polls still answered
// authorization_pending.
type deviceCode struct {
	user, scope string
	pending     int
	expires     time.Time
}

// accessToken is an issued access token; family is the refresh token it came with.
type accessToken struct {
	user, scope, family string
	expires             time.Time
	revoked             bool
}

// refreshToken is an issued refresh token; a rotated or revoked one is deleted.
type refreshToken struct {
	user, scope string
}

// New starts a Server on an ephemeral port of 127.0.0.1. Close stops it.
func New(opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("oauthtest: %w", err)
	}
	s := &Server{
		URL:      "http://" + ln.Addr().String(),
		opts:     opts,
		lifetime: opts.AccessLifetime,
		codes:    map[string]*authCode{},
		devices:  map[string]*deviceCode{},
		access:   map[string]*accessToken{},
		refresh:  map[string]*refreshToken{},
		served:   map[string]int{},
	}
	if s.lifetime <= 0 {
		s.lifetime = time.Hour
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /device", s.deviceAuthorization)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /introspect", s.introspect)
	mux.HandleFunc("POST /revoke", s.revoke)
	mux.HandleFunc("GET /activate", activate)
	s.srv = &http.Server{Handler: s.gate(mux), ReadHeaderTimeout: 10 * time.Second}
	go s.serve(ln)
	return s, nil
}

// serve runs the HTTP server until Close.
func (s *Server) serve(ln net.Listener) {
	_ = s.srv.Serve(ln)
}

// Close stops the server and closes its connections.
func (s *Server) Close() {
	_ = s.srv.Close()
}

// AuthURL is the authorization endpoint.
func (s *Server) AuthURL() string { return s.URL + "/authorize" }

// DeviceURL is the device authorization endpoint (RFC 8628 §3.1).
func (s *Server) DeviceURL() string { return s.URL + "/device" }

// TokenURL is the token endpoint.
func (s *Server) TokenURL() string { return s.URL + "/token" }

// IntrospectionURL is the introspection endpoint (RFC 7662), Dovecot's introspection_url.
func (s *Server) IntrospectionURL() string { return s.URL + "/introspect" }

// RevocationURL is the revocation endpoint (RFC 7009).
func (s *Server) RevocationURL() string { return s.URL + "/revoke" }

// Endpoint returns the endpoints for golang.org/x/oauth2, with client credentials sent in
// the form body.
func (s *Server) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: s.AuthURL(), DeviceAuthURL: s.DeviceURL(), TokenURL: s.TokenURL(),
		AuthStyle: oauth2.AuthStyleInParams}
}

// SetDown takes the server down (Unavailable, Closed) or up again (Up).
func (s *Server) SetDown(d Down) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = d
}

// SetAccessLifetime sets the lifetime of the access tokens issued from now on; d <= 0 means
// one hour.
func (s *Server) SetAccessLifetime(d time.Duration) {
	if d <= 0 {
		d = time.Hour
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// ExpireAccessTokens makes every access token issued so far expire now: introspection
// reports them inactive. Refresh tokens stay valid.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, a := range s.access {
		if a.expires.After(now) {
			a.expires = now
		}
	}
}

// RevokeUser revokes every refresh and access token of user, as a user removing the app's
// access would: a refresh then gets invalid_grant.
func (s *Server) RevokeUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, r := range s.refresh {
		if r.user == user {
			delete(s.refresh, tok)
		}
	}
	for _, a := range s.access {
		if a.user == user {
			a.revoked = true
		}
	}
}

// Served returns how many tokens the token endpoint has issued for grant (GrantRefreshToken
// and so on); refused requests do not count.
func (s *Server) Served(grant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served[grant]
}

// Refreshes returns how many refreshes the token endpoint has served.
func (s *Server) Refreshes() int { return s.Served(GrantRefreshToken) }

// Introspections returns how many introspection requests were answered.
func (s *Server) Introspections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.introspections
}

// Active reports whether token is an access token that introspection reports active, or a
// refresh token the token endpoint accepts.
func (s *Server) Active(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.refresh[token]; ok {
		return true
	}
	a, ok := s.access[token]
	return ok && a.activeAt(time.Now())
}

// Secrets returns every secret the server has issued or been shown: access and refresh
// tokens, authorization codes, device codes, PKCE verifiers, and the client secrets of
// Options.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.secrets...)
	for _, v := range []string{s.opts.ClientSecret, s.opts.IntrospectionClientSecret} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// activeAt reports whether a is neither revoked nor expired at now.
func (a *accessToken) activeAt(now time.Time) bool {
	return !a.revoked && now.Before(a.expires)
}

// gate answers for a server that is down and passes the rest to next.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		down := s.down
		s.mu.Unlock()
		switch down {
		case Unavailable:
			http.Error(w, "oauthtest: down for the test", http.StatusServiceUnavailable)
		case Closed:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			http.Error(w, "oauthtest: down for the test", http.StatusServiceUnavailable)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// newSecret returns a fresh random secret starting with prefix and remembers it for
// Secrets. s.mu must be held.
func (s *Server) newSecret(prefix string) string {
	v := prefix + rand.Text()
	s.secrets = append(s.secrets, v)
	return v
}

// authorize is the authorization endpoint: it approves at once (RFC 6749 §4.1.1, PKCE
// RFC 7636 §4.3 with S256 required).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !loopbackRedirect(redirect) {
		http.Error(w, "oauthtest: redirect_uri must be http on a loopback address", http.StatusBadRequest)
		return
	}
	fail := func(code, desc string) {
		v := redirect.Query()
		v.Set("error", code)
		v.Set("error_description", desc)
		v.Set("state", q.Get("state"))
		redirect.RawQuery = v.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
	}
	user := q.Get("login_hint")
	if user == "" {
		user = s.opts.User
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "response_type must be code")
	case s.opts.ClientID != "" && q.Get("client_id") != s.opts.ClientID:
		fail("unauthorized_client", "unknown client_id")
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		fail("invalid_request", "PKCE with S256 is required")
	case user == "":
		fail("access_denied", "no account to approve (login_hint or Options.User)")
	default:
		s.mu.Lock()
		code := s.newSecret("code-")
		s.codes[code] = &authCode{user: user, scope: q.Get("scope"), redirect: q.Get("redirect_uri"),
			challenge: q.Get("code_challenge"), expires: time.Now().Add(10 * time.Minute)}
		s.mu.Unlock()
		v := redirect.Query()
		v.Set("code", code)
		v.Set("state", q.Get("state"))
		redirect.RawQuery = v.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
	}
}

// loopbackRedirect reports whether u is an http URL on a loopback IP address (RFC 8252
// §7.3).
func loopbackRedirect(u *url.URL) bool {
	addr, err := netip.ParseAddr(u.Hostname())
	return u.Scheme == "http" && err == nil && addr.IsLoopback() && u.Port() != ""
}

// deviceAuthorization is the device authorization endpoint (RFC 8628 §3.1, §3.2).
func (s *Server) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	if s.opts.ClientID != "" && r.PostForm.Get("client_id") != s.opts.ClientID {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client_id")
		return
	}
	s.mu.Lock()
	code := s.newSecret("device-")
	s.devices[code] = &deviceCode{user: s.opts.User, scope: r.PostForm.Get("scope"), pending: s.opts.DevicePolls,
		expires: time.Now().Add(10 * time.Minute)}
	s.mu.Unlock()
	userCode := strings.ToUpper(rand.Text()[:8])
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               code,
		"user_code":                 userCode[:4] + "-" + userCode[4:],
		"verification_uri":          s.URL + "/activate",
		"verification_uri_complete": s.URL + "/activate?user_code=" + userCode,
		"expires_in":                600,
		"interval":                  1,
	})
}

// activate is the verification_uri a person would open; every device code is approved
// without it.
func activate(w http.ResponseWriter, _ *http.Request) {
	_, _ = w.Write([]byte("oauthtest approves device codes without a visit here.\n"))
}

// token is the token endpoint (RFC 6749 §4.1.3, §6; RFC 8628 §3.4).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	if !s.clientOK(r, s.opts.ClientID, s.opts.ClientSecret) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var user, scope, keep string
	switch grant {
	case GrantAuthorizationCode:
		c, ok := s.codes[f.Get("code")]
		delete(s.codes, f.Get("code"))
		verifier := f.Get("code_verifier")
		if verifier != "" {
			s.secrets = append(s.secrets, verifier)
		}
		switch {
		case !ok || now.After(c.expires):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown or used authorization code")
			return
		case f.Get("redirect_uri") != c.redirect:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
			return
		case subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(c.challenge)) != 1:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match code_challenge")
			return
		}
		user, scope = c.user, c.scope
	case GrantDeviceCode:
		d, ok := s.devices[f.Get("device_code")]
		switch {
		case !ok:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown or used device code")
			return
		case now.After(d.expires):
			oauthError(w, http.StatusBadRequest, "expired_token", "the device code expired")
			return
		case d.user == "":
			delete(s.devices, f.Get("device_code"))
			oauthError(w, http.StatusBadRequest, "access_denied", "no account to approve (Options.User)")
			return
		case d.pending > 0:
			d.pending--
			oauthError(w, http.StatusBadRequest, "authorization_pending", "waiting for the user")
			return
		}
		delete(s.devices, f.Get("device_code"))
		user, scope = d.user, d.scope
	case GrantRefreshToken:
		old := f.Get("refresh_token")
		rt, ok := s.refresh[old]
		if !ok {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is invalid, rotated or revoked")
			return
		}
		user, scope = rt.user, rt.scope
		if s.opts.NoRotation {
			keep = old
		} else {
			delete(s.refresh, old)
		}
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "unknown grant_type")
		return
	}
	refresh := keep
	if refresh == "" {
		refresh = s.newSecret("refresh-")
		s.refresh[refresh] = &refreshToken{user: user, scope: scope}
	}
	access := s.newSecret("access-")
	s.access[access] = &accessToken{user: user, scope: scope, family: refresh, expires: now.Add(s.lifetime)}
	s.served[grant]++
	body := map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   int64(s.lifetime / time.Second),
		"scope":        scope,
	}
	if keep == "" {
		body["refresh_token"] = refresh
	}
	writeJSON(w, http.StatusOK, body)
}

// s256 is the PKCE S256 code challenge of verifier (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// introspect is the introspection endpoint (RFC 7662 §2).
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	if s.opts.IntrospectionClientID != "" && !s.clientOK(r, s.opts.IntrospectionClientID, s.opts.IntrospectionClientSecret) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.introspections++
	a, ok := s.access[r.PostForm.Get("token")]
	if !ok || !a.activeAt(time.Now()) {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"active": true, "username": a.user, "sub": a.user, "email": a.user, "scope": a.scope,
		"exp": a.expires.Unix(), "client_id": s.opts.ClientID, "token_type": "Bearer",
	})
}

// revoke is the revocation endpoint (RFC 7009 §2): an unknown token is not an error.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	if !s.clientOK(r, s.opts.ClientID, s.opts.ClientSecret) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	tok := r.PostForm.Get("token")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.refresh[tok]; ok {
		delete(s.refresh, tok)
		for _, a := range s.access {
			if a.family == tok {
				a.revoked = true
			}
		}
	}
	if a, ok := s.access[tok]; ok {
		a.revoked = true
	}
	w.WriteHeader(http.StatusOK)
}

// clientOK checks the client authentication of r (form body or HTTP Basic, RFC 6749
// §2.3.1) against id and secret; "" for either accepts any.
func (s *Server) clientOK(r *http.Request, id, secret string) bool {
	gotID, gotSecret, basic := r.BasicAuth()
	if !basic {
		gotID, gotSecret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != "" && gotID != id {
		return false
	}
	return secret == "" || subtle.ConstantTimeCompare([]byte(gotSecret), []byte(secret)) == 1
}

// oauthError writes an RFC 6749 §5.2 error response.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v) // maps of strings and numbers always marshal
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
