package probe

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/popclient"
)

// dnsHint explains a failed lookup of host.
func dnsHint(host string, err error) string {
	var de *net.DNSError
	if !errors.As(err, &de) {
		return "the host name could not be resolved; check its spelling and your network"
	}
	switch {
	case de.IsNotFound:
		h := fmt.Sprintf("%s does not exist in DNS (NXDOMAIN): check its spelling", host)
		if s := suggestHost(host); s != "" {
			h += fmt.Sprintf("; did you mean %s?", s)
		}
		return h
	case de.IsTimeout:
		return "the DNS server did not answer in time: check your network connection or DNS settings"
	}
	return "the DNS lookup failed: check your network connection or DNS settings"
}

// connectHint explains a failed TCP connect to host:port.
func connectHint(host, port string, err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("nothing listens on port %s of %s (connection refused): check the port; "+
			"POP3 servers use 995 for implicit TLS and 110 for plaintext with STLS", port, host)
	case isTimeout(err):
		return fmt.Sprintf("no answer from %s port %s: a firewall drops the packets, the host is down, "+
			"or the port is wrong (POP3 uses 995 or 110)", host, port)
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return fmt.Sprintf("no route to %s: check your network connection", host)
	}
	return "the TCP connection failed: check the host, the port and your network"
}

// isTimeout reports whether err is a deadline or a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		errors.Is(err, syscall.ETIMEDOUT)
}

// handshakeHint explains a failed TLS handshake; name is the SNI and verification name and
// starttls says whether TLS followed STLS.
func handshakeHint(err error, name string, starttls bool) string {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		head := string(rh.RecordHeader[:])
		if strings.HasPrefix(head, "+OK") || strings.HasPrefix(head, "-ERR") {
			return fmt.Sprintf("the server answered in plaintext POP3 (%q…) instead of TLS: this is a plaintext/STLS port; "+
				"add --starttls, or use the implicit-TLS port (usually 995)", strings.TrimRight(head, "\r\n"))
		}
		return "the server did not answer with TLS: is this a POP3 port at all?"
	}
	if cert := certOf(err); cert != nil && slices.Contains(cert.DNSNames, "invalid2.invalid") {
		return "the server sent Gmail's placeholder certificate (invalid2.invalid), which Google sends when the client " +
			"sends no SNI: connect by host name, or pass --upstream-name pop.gmail.com when connecting by IP address"
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		return fmt.Sprintf("the certificate is not valid for %s (it names %s): connect by one of those names, "+
			"or pass --upstream-name with the name the server's certificate carries", name, certNames(he.Certificate))
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		what := "signed by an authority this system does not trust (a private CA)"
		if c := ua.Cert; c != nil && c.Subject.String() == c.Issuer.String() && len(c.DNSNames)+len(c.IPAddresses) > 0 {
			what = "self-signed"
		}
		return fmt.Sprintf("the certificate is %s: pass the CA certificate (PEM) with --upstream-ca FILE, "+
			"or --insecure-skip-verify for a test only", what)
	}
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) {
		if ci.Reason == x509.Expired {
			return "the certificate is expired or not yet valid: check this computer's clock, then tell the server's administrator"
		}
		return "the certificate is not valid for a server: tell the server's administrator"
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return fmt.Sprintf("the server refused the TLS handshake (alert: %v): it may not support TLS 1.2 or later, or want a client certificate", alert)
	}
	if isTimeout(err) {
		if starttls {
			return "the server accepted STLS but never finished the TLS handshake"
		}
		return "the server sent no TLS answer: it may be a plaintext port waiting for the client to speak; try --starttls or port 995"
	}
	return "the TLS handshake failed"
}

// certOf returns the certificate a verification error is about, or nil: the server's own
// for a wrong name, the one whose issuer is unknown (the server's or a CA it sent), the
// invalid one.
func certOf(err error) *x509.Certificate {
	var he x509.HostnameError
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &he):
		return he.Certificate
	case errors.As(err, &ua):
		return ua.Cert
	case errors.As(err, &ci):
		return ci.Cert
	}
	return nil
}

// failedCertDetails describes the certificates of a failed verification: the server
// certificate's names and issuer as the dialer reports them, and the certificate the error
// is about.
func failedCertDetails(err error, now time.Time) []string {
	var out []string
	var de *popclient.DialError
	if errors.As(err, &de) && de.Step == popclient.StepVerify {
		out = append(out, "server certificate names: "+strings.Join(de.Names, ", "), "server certificate issuer: "+de.Issuer)
	}
	if c := certOf(err); c != nil {
		out = append(out, "verification failed at "+strings.TrimPrefix(chainDetails([]*x509.Certificate{c}, now)[0], "certificate 1: "))
		out = append(out, chainDetails([]*x509.Certificate{c}, now)[1:]...)
	}
	return out
}

// greetingHint explains a missing greeting; starttls says whether the probe expected a
// plaintext greeting.
func greetingHint(err error, starttls bool) string {
	if starttls {
		return "the server sent no plaintext POP3 greeting: this looks like an implicit-TLS port (usually 995); drop --starttls"
	}
	if isTimeout(err) {
		return "TLS works but the server sent no POP3 greeting: is this a POP3 server?"
	}
	return "the server closed the connection or sent something that is not POP3"
}

// replyHint explains a -ERR to cmd from its response code (RFC 2449 §8, RFC 3206) and text;
// loginDelay is the CAPA LOGIN-DELAY value, "" when unknown.
func replyHint(r codec.Reply, cmd, loginDelay string) string {
	text := strings.ToLower(r.Text)
	code := strings.ToUpper(r.Code)
	switch {
	case strings.Contains(text, "application-specific password"):
		// Gmail: "-ERR [AUTH] Application-specific password required: <help URL>".
		return "Google requires an app password: turn on 2-Step Verification, create an app password at " +
			"https://myaccount.google.com/apppasswords and use it instead of your Google password, or log in with " +
			"OAuth (popwire auth login ADDRESS, then --oauth)"
	case strings.Contains(text, "protocol error. connection is closed. 10"):
		return "Microsoft refuses AUTH XOAUTH2 with the token on the AUTH line: send AUTH XOAUTH2 alone, wait for " +
			"\"+ \", then send the token on a line of its own (the two-step form popwire uses)"
	case strings.Contains(text, "server unavailable. 21"):
		return "Microsoft's server is throttling this account or address (Server Unavailable. 21): wait several " +
			"minutes, check mail less often, and keep fewer sessions open at once"
	case strings.Contains(text, "not enabled for pop access"):
		return "POP is turned off for this Gmail account: enable it in Gmail's settings (See all settings → " +
			"Forwarding and POP/IMAP → Enable POP); in Google Workspace an administrator may have to allow POP first"
	case code == "AUTH" && strings.Contains(text, "cleartext"):
		return "the server refuses passwords on an unencrypted connection: use TLS (port 995) or --starttls"
	case code == "AUTH" && strings.Contains(text, "username and password not accepted"):
		return "Gmail rejected the user name or password: use the full address and an app password, and check " +
			"that POP is enabled in Gmail's settings (Forwarding and POP/IMAP); Google Workspace accounts take no " +
			"password since 2025: log in with OAuth (popwire auth login ADDRESS, then --oauth)"
	case code == "AUTH":
		return "the server rejected the credentials [AUTH]: check the user name and the password"
	case code == "IN-USE":
		return "the credentials are right but the mailbox is locked by another session [IN-USE]: " +
			"close other mail clients (or wait for them to finish) and try again"
	case code == "LOGIN-DELAY":
		h := "you logged in too recently [LOGIN-DELAY]: wait before the next login"
		if loginDelay != "" {
			h += " (the server asks for " + loginDelay + " seconds between logins)"
		}
		return h
	case code == "SYS/TEMP" || strings.HasPrefix(code, "SYS/TEMP/"):
		return "a temporary problem on the server [SYS/TEMP]: try again later; the password is probably fine"
	case code == "SYS/PERM" || strings.HasPrefix(code, "SYS/PERM/"):
		return "a permanent problem on the server [SYS/PERM]: tell the server's administrator"
	}
	switch cmd {
	case "USER", "PASS", "AUTH":
		return "the server refused the login: check the user name and the password"
	case "STLS":
		return "the server does not offer STLS on this port: try implicit TLS on port 995 without --starttls"
	}
	return ""
}
