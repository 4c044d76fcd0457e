package probe

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"
)

// sniSent returns what the client sent as SNI for name: nothing for an IP address (RFC 6066
// §3 forbids literal addresses).
func sniSent(name string) string {
	if name == "" || net.ParseIP(name) != nil {
		return "none"
	}
	return name
}

// tlsSummary describes an established connection in one line.
func tlsSummary(st *tls.ConnectionState, name string, verified string) string {
	return fmt.Sprintf("%s, %s, SNI %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), sniSent(name), verified)
}

// chainDetails describes each certificate: subject, issuer, names and expiry.
func chainDetails(chain []*x509.Certificate, now time.Time) []string {
	var out []string
	for i, c := range chain {
		out = append(out, fmt.Sprintf("certificate %d: %s", i+1, c.Subject))
		out = append(out, "  issuer: "+c.Issuer.String())
		if names := certNames(c); names != "" {
			out = append(out, "  names: "+names)
		}
		out = append(out, "  expires: "+expiry(c.NotAfter, now))
	}
	return out
}

// certNames lists the DNS names and IP addresses of c's subject alternative names.
func certNames(c *x509.Certificate) string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return strings.Join(names, ", ")
}

// expiry renders a NotAfter date with the days left.
func expiry(t, now time.Time) string {
	days := int(t.Sub(now).Hours() / 24)
	if t.Before(now) {
		return fmt.Sprintf("%s (EXPIRED %d days ago)", t.UTC().Format(time.DateOnly), -days)
	}
	return fmt.Sprintf("%s (in %d days)", t.UTC().Format(time.DateOnly), days)
}
