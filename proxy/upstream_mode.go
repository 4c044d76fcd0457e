package proxy

import "fmt"

// UpstreamMode says how popwire secures its connection to the upstream server.
type UpstreamMode uint8

const (
	// UpstreamImplicitTLS starts TLS on connect (RFC 8314 §3.1); the zero value.
	UpstreamImplicitTLS UpstreamMode = iota
	// UpstreamSTARTTLS reads the greeting in plaintext, then upgrades with STLS (RFC 2595 §4).
	UpstreamSTARTTLS
	// UpstreamPlaintext never encrypts; Config.InsecureUpstreamPlaintext must allow it.
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

// security returns the logview name of the upstream leg's security.
func (m UpstreamMode) security() string {
	switch m {
	case UpstreamSTARTTLS:
		return "stls"
	case UpstreamPlaintext:
		return "plaintext"
	}
	return "tls"
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
	return 0, fmt.Errorf("proxy: unknown upstream TLS mode %q (want implicit, starttls or none)", s)
}
