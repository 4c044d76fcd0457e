package popclient

import "fmt"

// UpstreamMode says how a Dialer secures its connection to the server.
type UpstreamMode uint8

const (
	// UpstreamImplicitTLS starts TLS on connect (RFC 8314 §3.1); the zero value.
	UpstreamImplicitTLS UpstreamMode = iota
	// UpstreamSTARTTLS reads the greeting in plaintext, then upgrades with STLS (RFC 2595 §4).
	UpstreamSTARTTLS
	// UpstreamPlaintext never encrypts; the proxy needs Config.InsecureUpstreamPlaintext for it.
	UpstreamPlaintext
)

// String returns the mode's command-line name: "implicit", "starttls" or "none".
func (m UpstreamMode) String() string {
	switch m {
	case UpstreamImplicitTLS:
		return "implicit"
	case UpstreamSTARTTLS:
		return "starttls"
	case UpstreamPlaintext:
		return "none"
	}
	return fmt.Sprintf("UpstreamMode(%d)", uint8(m))
}

// ParseUpstreamMode parses "implicit", "starttls" or "none".
func ParseUpstreamMode(s string) (UpstreamMode, error) {
	switch s {
	case "implicit":
		return UpstreamImplicitTLS, nil
	case "starttls":
		return UpstreamSTARTTLS, nil
	case "none":
		return UpstreamPlaintext, nil
	}
	return 0, fmt.Errorf("popclient: unknown upstream TLS mode %q (want implicit, starttls or none)", s)
}
