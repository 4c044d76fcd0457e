package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/metrics"
	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/popclient"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultMaxConns         = 1000
	DefaultHandshakeTimeout = 15 * time.Second
	DefaultLoginTimeout     = time.Minute
	DefaultMaxConnsPerIP    = 50
)

// Config configures a Server. The zero value proxies plaintext clients to pop.gmail.com:995
// over verified implicit TLS with the defaults above; having no Certificate, it offers no
// STLS and refuses a TLS listener.
type Config struct {
	// Listen is the plaintext client listener address for ListenAndServe; "" means none.
	Listen string
	// ListenTLS is the implicit-TLS client listener address for ListenAndServe; "" means none.
	ListenTLS string
	// AllowRemotePlaintext permits a plaintext listener on an address that is not loopback.
	AllowRemotePlaintext bool
	// ProxyProtocol is the PROXY protocol of the listeners ListenAndServe opens (Listen and
	// ListenTLS); nil means none. Serve takes it per Listener instead.
	ProxyProtocol *ProxyProtocol

	// Upstream is the server's HOST:PORT; "" means popclient.DefaultUpstream.
	Upstream string
	// UpstreamMode says how the upstream leg is secured; the zero value is implicit TLS.
	UpstreamMode popclient.UpstreamMode
	// InsecureUpstreamPlaintext must be set for popclient.UpstreamPlaintext to be accepted.
	InsecureUpstreamPlaintext bool
	// UpstreamName is the SNI and verification name; "" means the host part of Upstream.
	UpstreamName string
	// UpstreamRoots verifies the upstream certificate; nil means the system pool.
	UpstreamRoots *x509.CertPool
	// InsecureSkipVerify turns upstream certificate verification off; every session logs a warning.
	InsecureSkipVerify bool
	// ProxyProtocolOut sends the upstream a PROXY v2 header with the client's address (from
	// the client's PROXY header, else its socket) right after connecting, before STLS or TLS:
	// for a server that trusts popwire to tell it, such as Dovecot's haproxy_trusted_networks.
	ProxyProtocolOut bool
	// DialTimeout bounds the whole upstream dial (DNS, connect, STLS, handshake, greeting); 0
	// means popclient.DefaultDialTimeout.
	DialTimeout time.Duration

	// Certificate is the client-leg certificate for STLS and the TLS listener; nil means the
	// plaintext listener offers no STLS and a TLS listener is refused.
	Certificate *tls.Certificate
	// LegacyTLS allows TLS 1.0/1.1 and CBC cipher suites on the client leg only.
	LegacyTLS bool
	// RequireTLS refuses USER, PASS, APOP and AUTH on a plaintext client leg and hides USER
	// and SASL from its CAPA until the leg is upgraded with STLS.
	RequireTLS bool
	// Deny lists command keywords (any case; an entry may be a comma-separated list, see
	// ParseDeny) answered locally with -ERR and never forwarded.
	Deny []string
	// HandshakeTimeout bounds a client-leg TLS handshake; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// IdleTimeout closes a session after this long without a complete client line or a server
	// byte (client bytes that do not complete a line are no activity); 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// LoginTimeout closes a session not logged in (the tracker not in TRANSACTION) this long
	// after the client connected; 0 means DefaultLoginTimeout.
	LoginTimeout time.Duration
	// MaxConns caps concurrent sessions; 0 means DefaultMaxConns.
	MaxConns int
	// MaxConnsPerIP caps the concurrent sessions of one client address (IPv6: one /64);
	// 0 means DefaultMaxConnsPerIP.
	MaxConnsPerIP int

	// KeyLog receives the TLS secrets of both legs in the NSS key log format
	// (tls.Config.KeyLogWriter), so that a capture of the session can be decrypted; nil writes
	// none. crypto/tls calls its Write during handshakes, under a lock all handshakes share:
	// it must never block. Every session logs a warning when it is set.
	KeyLog io.Writer

	// Route names the route this Server serves, for metric labels; "" reads as
	// metrics.DefaultRoute.
	Route string
	// Metrics counts the sessions, traffic and outcomes of this Server into the registry under
	// Route's name; nil counts nothing. Several Servers may share one registry.
	Metrics *metrics.Registry

	// OAuth, when set, turns the login step into a bridge (bridge.go): popwire answers USER,
	// PASS, AUTH PLAIN and AUTH LOGIN itself, gets the account's access token from OAuth with
	// the password the client sent, and logs in upstream with the token's mechanism
	// (Access.Mechanism) or OAuthMechanism. nil: credentials pass through unchanged.
	OAuth oauth.Source
	// OAuthMechanism, when set, is the SASL mechanism the bridge logs in upstream with; nil
	// means each account's own, the one it was authorised for (Access.Mechanism).
	OAuthMechanism *oauth.Mechanism
	// Sink receives the log events; nil discards them.
	Sink logview.Sink
	// Log says what the per-session recorder keeps and reveals.
	Log LogOptions
}

func (c *Config) upstream() string {
	if c.Upstream == "" {
		return popclient.DefaultUpstream
	}
	return c.Upstream
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
