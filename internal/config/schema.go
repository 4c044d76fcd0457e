package config

// The types below mirror the file: each yaml tag is a key, checked by checkKeys before
// decoding (an unknown key is an error with its line).

// file is the whole document. Its settings outside log, shutdown_timeout, metrics and routes
// are the global defaults of every route.
type file struct {
	Log             processLog      `yaml:"log"`
	ShutdownTimeout Value[Duration] `yaml:"shutdown_timeout"`
	Metrics         metrics         `yaml:"metrics"`
	settings        `yaml:",inline"`
	Routes          []route `yaml:"routes"`
}

// settings are what a route may set and the top level sets as defaults.
type settings struct {
	Upstream upstream  `yaml:"upstream"`
	TLS      clientTLS `yaml:"tls"`
	Policy   policy    `yaml:"policy"`
	Limits   limits    `yaml:"limits"`
	OAuth    oauth     `yaml:"oauth"`
}

// route is one entry of routes: a name, its listeners, and its overrides of the defaults.
type route struct {
	Name     Value[string] `yaml:"name"`
	Listen   []listener    `yaml:"listen"`
	Log      routeLog      `yaml:"log"`
	settings `yaml:",inline"`
	line     int // where the entry starts
}

// listener is one client listener of a route.
type listener struct {
	Address              Value[string] `yaml:"address"`
	TLS                  Value[bool]   `yaml:"tls"`
	AllowRemotePlaintext Value[bool]   `yaml:"allow_remote_plaintext"`
	ProxyProtocol        proxyIn       `yaml:"proxy_protocol"`
	line                 int
}

// proxyIn is a listener's PROXY protocol setting.
type proxyIn struct {
	Trusted Value[[]string] `yaml:"trusted"`
}

// upstream is where a route's sessions go and how.
type upstream struct {
	Address            Value[string]   `yaml:"address"`
	TLS                Value[string]   `yaml:"tls"`
	CA                 Value[[]string] `yaml:"ca"`
	Name               Value[string]   `yaml:"name"`
	InsecureSkipVerify Value[bool]     `yaml:"insecure_skip_verify"`
	InsecurePlaintext  Value[bool]     `yaml:"insecure_plaintext"`
	DialTimeout        Value[Duration] `yaml:"dial_timeout"`
	ProxyProtocol      Value[string]   `yaml:"proxy_protocol"`
}

// clientTLS is the client leg's certificate and protocol range.
type clientTLS struct {
	Cert   Value[string] `yaml:"cert"`
	Key    Value[string] `yaml:"key"`
	Legacy Value[bool]   `yaml:"legacy"`
}

// policy is what popwire refuses on a route.
type policy struct {
	Deny       Value[[]string] `yaml:"deny"`
	RequireTLS Value[bool]     `yaml:"require_tls"`
}

// limits are a route's deadlines and caps.
type limits struct {
	IdleTimeout      Value[Duration] `yaml:"idle_timeout"`
	LoginTimeout     Value[Duration] `yaml:"login_timeout"`
	HandshakeTimeout Value[Duration] `yaml:"handshake_timeout"`
	MaxConns         Value[int]      `yaml:"max_conns"`
	MaxConnsPerIP    Value[int]      `yaml:"max_conns_per_ip"`
}

// routeLog is what a route may override of the logging.
type routeLog struct {
	Bodies    Value[string] `yaml:"bodies"`
	HideUsers Value[bool]   `yaml:"hide_users"`
}

// processLog is the logging of the whole process (its outputs), and the defaults of routeLog.
type processLog struct {
	Format            Value[string] `yaml:"format"`
	Color             Value[string] `yaml:"color"`
	File              Value[string] `yaml:"file"`
	Overflow          Value[string] `yaml:"overflow"`
	Transcript        Value[string] `yaml:"transcript"`
	BodiesBudget      Value[string] `yaml:"bodies_budget"`
	RevealCredentials Value[bool]   `yaml:"reveal_credentials"`
	Keylog            Value[string] `yaml:"keylog"`
	Pcap              Value[string] `yaml:"pcap"`
	routeLog          `yaml:",inline"`
}

// metrics is the metrics endpoint.
type metrics struct {
	Listen      Value[string]   `yaml:"listen"`
	AllowRemote Value[bool]     `yaml:"allow_remote"`
	DrainDelay  Value[Duration] `yaml:"drain_delay"`
}

// oauth is a route's OAuth 2.0 provider, for XOAUTH2/OAUTHBEARER towards the upstream.
type oauth struct {
	Provider     Value[string] `yaml:"provider"`
	Mechanism    Value[string] `yaml:"mechanism"`
	TokenURL     Value[string] `yaml:"token_url"`
	ClientID     Value[string] `yaml:"client_id"`
	ClientSecret Value[string] `yaml:"client_secret_file"`
	line         int
}
