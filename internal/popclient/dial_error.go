package popclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// Step names one stage of the upstream dial.
type Step string

// The dial steps, in the order Dialer.Dial runs them.
const (
	StepDNS         Step = "dns"          // resolving the host name
	StepConnect     Step = "connect"      // TCP connect
	StepProxyHeader Step = "proxy-header" // writing Dialer.ProxyHeader, the PROXY protocol header
	StepSTLS        Step = "stls"         // plaintext greeting and STLS exchange (STARTTLS mode)
	StepHandshake   Step = "handshake"    // TLS handshake
	StepVerify      Step = "verify"       // certificate verification (part of the handshake)
	StepGreeting    Step = "greeting"     // the server's greeting (implicit TLS and plaintext; STARTTLS reads it in StepSTLS)
)

// DialError reports which step of an upstream dial failed. It never holds a secret.
type DialError struct {
	Step   Step
	Addr   string   // the upstream HOST:PORT
	Names  []string // StepVerify: the DNS names and IP addresses in the peer certificate
	Issuer string   // StepVerify: the peer certificate's issuer
	Err    error
}

// Error returns "popclient: upstream ADDR STEP failed: REASON".
func (e *DialError) Error() string {
	return fmt.Sprintf("popclient: upstream %s %s failed: %s", e.Addr, e.Step, e.Reason())
}

// Unwrap returns the underlying error.
func (e *DialError) Unwrap() error { return e.Err }

// Reason returns the explanation: the error and, for StepVerify, the certificate's names
// and issuer. It may quote what the server sent (a greeting, a certificate name): whoever
// puts it on a protocol line or a terminal makes it safe there.
func (e *DialError) Reason() string {
	var b strings.Builder
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	if e.Step == StepVerify {
		if len(e.Names) > 0 {
			fmt.Fprintf(&b, " (certificate names: %s)", strings.Join(e.Names, ", "))
		}
		if e.Issuer != "" {
			fmt.Fprintf(&b, " (issuer: %s)", e.Issuer)
		}
	}
	return b.String()
}

// verifyError turns a handshake failure into a DialError, telling verification apart.
func verifyError(addr string, err error) *DialError {
	var ve *tls.CertificateVerificationError
	if !errors.As(err, &ve) {
		return &DialError{Step: StepHandshake, Addr: addr, Err: err}
	}
	de := &DialError{Step: StepVerify, Addr: addr, Err: ve.Err}
	if len(ve.UnverifiedCertificates) > 0 {
		c := ve.UnverifiedCertificates[0]
		de.Names = append(de.Names, c.DNSNames...)
		for _, ip := range c.IPAddresses {
			de.Names = append(de.Names, ip.String())
		}
		de.Issuer = c.Issuer.String()
	}
	return de
}
