package config

import (
	"net/netip"
	"time"

	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/proxy"
)

// Config is a checked configuration file: the process's logging and the routes.
type Config struct {
	File            string        // the path it was read from
	Log             Log           // the process's log outputs
	ShutdownTimeout time.Duration // on SIGINT/SIGTERM, how long sessions may finish; DefaultShutdownTimeout when the file leaves it out
	// Metrics is the metrics endpoint and the drain on SIGTERM, as serve's --metrics,
	// --metrics-allow-remote and --drain-delay say them. Read at start only, like Log.
	Metrics Metrics
	Routes  []Route // at least one; names unique, listeners not clashing
}

// DefaultShutdownTimeout is the shutdown timeout when the file gives none, as for --shutdown-timeout.
const DefaultShutdownTimeout = 30 * time.Second

// Metrics is the metrics section: serve's metrics flags. The zero value serves no metrics and
// drains as --drain-delay's default says.
type Metrics struct {
	Listen        string        // metrics.listen: the address of /metrics, /healthz, /readyz; "" means none
	AllowRemote   bool          // metrics.allow_remote: listen may be an address that is not loopback
	DrainDelay    time.Duration // metrics.drain_delay, valid when DrainDelaySet
	DrainDelaySet bool
}

// Log is the process-wide logging: the outputs, as the logging flags of serve say them. An
// empty string is the flag's default.
type Log struct {
	Format            string // log.format: text | json | none
	Color             string // log.color: auto | always | never
	File              string // log.file: the JSON lines file
	Overflow          string // log.overflow: drop | block
	Transcript        string // log.transcript: summary | replies | full
	BodiesBudget      string // log.bodies_budget: a size such as 256MiB
	RevealCredentials bool   // log.reveal_credentials
	Keylog            string // log.keylog
	Pcap              string // log.pcap
	Bodies            string // log.bodies: the routes' default
	HideUsers         bool   // log.hide_users: the routes' default
}

// Route is one route: its listeners, its upstream, and the settings of its sessions (the
// route's own, else the file's top-level defaults, else the serve flags' defaults).
type Route struct {
	Name      string
	Line      int // where the route's entry starts
	Listeners []Listener

	Upstream           string                 // HOST:PORT
	UpstreamMode       popclient.UpstreamMode // upstream.tls
	UpstreamCA         []string               // upstream.ca: PEM files added to the system roots
	UpstreamName       string                 // upstream.name
	InsecureSkipVerify bool
	InsecurePlaintext  bool          // upstream.insecure_plaintext, needed by upstream.tls: none
	DialTimeout        time.Duration // 0: popclient.DefaultDialTimeout
	// ProxyProtocolOut is upstream.proxy_protocol: v2 (send a PROXY v2 header upstream, as
	// proxy.Config.ProxyProtocolOut).
	ProxyProtocolOut bool

	Cert, Key string // tls.cert, tls.key; both "" means the local certificate
	LegacyTLS bool

	Deny       []string // upper-case keywords (proxy.ParseDeny)
	RequireTLS bool

	IdleTimeout, LoginTimeout, HandshakeTimeout time.Duration // 0: the proxy's defaults
	MaxConns, MaxConnsPerIP                     int           // 0: the proxy's defaults

	Bodies    proxy.Bodies
	HideUsers bool

	// OAuth is the route's OAuth bridge (proxy.Config.OAuth); nil means none: credentials
	// pass through.
	OAuth *OAuth

	// Lines says where the file set what the caller loads: "tls.cert", "tls.key",
	// "upstream.ca", "upstream.proxy_protocol", "listen[N]" (N from 0), so that a failure to
	// load one, or a refusal of it, names its line.
	Lines map[string]int
}

// Listener is one client listener of a route.
type Listener struct {
	Address              string // HOST:PORT, port not 0
	TLS                  bool   // implicit TLS; false: plaintext with STLS
	AllowRemotePlaintext bool
	// ProxyProtocol is the listener's proxy_protocol; nil means none (proxy.Listener.ProxyProtocol).
	ProxyProtocol *ProxyProtocol
	Line          int
}

// ProxyProtocol says whose PROXY protocol headers a listener believes: every connection must
// come from Trusted and start with a header (proxy.ProxyProtocol).
type ProxyProtocol struct {
	Trusted []netip.Prefix // proxy_protocol.trusted
	Line    int
}

// OAuth is a route's OAuth bridge, as serve's --oauth and provider flags say it: the accounts
// authorised with popwire auth login for Provider log in upstream with their tokens.
type OAuth struct {
	Provider         string // oauth.provider: google, microsoft or a custom provider's name, as given to auth login
	Mechanism        string // oauth.mechanism: xoauth2 | oauthbearer; "" means each account's, recorded at auth login
	TokenURL         string // oauth.token_url: replaces the token endpoint the account files record; "" keeps it
	ClientID         string // oauth.client_id: replaces the recorded client ID; "" keeps it
	ClientSecretFile string // oauth.client_secret_file: a file holding the client secret (never the secret itself); "" keeps the recorded one
	Line             int
}
