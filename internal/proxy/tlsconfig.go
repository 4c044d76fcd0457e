package proxy

import (
	"crypto/tls"
	"strings"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
)

// clientTLSConfig returns the client-leg server configuration: TLS 1.2+ by default; with
// legacy, TLS 1.0 and 1.1 and the CBC suites old clients need.
func clientTLSConfig(cert *tls.Certificate, legacy bool) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	if legacy {
		cfg.MinVersion = tls.VersionTLS10
		for _, s := range tls.CipherSuites() {
			cfg.CipherSuites = append(cfg.CipherSuites, s.ID)
		}
		for _, s := range tls.InsecureCipherSuites() {
			if strings.Contains(s.Name, "_CBC_") && !strings.Contains(s.Name, "3DES") {
				cfg.CipherSuites = append(cfg.CipherSuites, s.ID)
			}
		}
	}
	return cfg
}

// upstreamSecurity returns the logview name of the security of an upstream leg in mode m.
func upstreamSecurity(m popclient.UpstreamMode) string {
	switch m {
	case popclient.UpstreamSTARTTLS:
		return "stls"
	case popclient.UpstreamPlaintext:
		return "plaintext"
	}
	return "tls"
}

// skippedVerification is the TLSInfo.VerifyErr of an upstream leg whose certificate was not
// checked: whether it would have verified, given the error of Dialer.VerifyAnyway.
func skippedVerification(err error) string {
	if err == nil {
		return "not checked (--insecure-skip-verify); the certificate would verify"
	}
	return oneLine("not checked (--insecure-skip-verify); verification would fail: "+err.Error(), 300)
}

// tlsInfo turns a connection state into the log's TLS record.
func tlsInfo(st *tls.ConnectionState, verified bool) *logview.TLSInfo {
	info := &logview.TLSInfo{
		Version:  tls.VersionName(st.Version),
		Cipher:   tls.CipherSuiteName(st.CipherSuite),
		SNI:      st.ServerName,
		Verified: verified && len(st.VerifiedChains) > 0,
	}
	if len(st.PeerCertificates) > 0 {
		c := st.PeerCertificates[0]
		info.PeerSubject = c.Subject.String()
		info.PeerNames = append(info.PeerNames, c.DNSNames...)
		for _, ip := range c.IPAddresses {
			info.PeerNames = append(info.PeerNames, ip.String())
		}
	}
	return info
}
