package popclienttest

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/popwire/popwire/internal/testpki"
)

// Certs is a server certificate and the CA that signed it (itself when self-signed).
type Certs struct {
	CAFile string         // PEM file of the CA certificate, in the test's temp dir
	Pool   *x509.CertPool // a pool holding only the CA
	Server *tls.Config    // server configuration presenting the certificate
}

// NewCerts issues a certificate for names (DNS names or IP addresses; the first is also the
// common name) signed by a new CA, or self-signed when selfSigned is set. A CA-signed server
// sends the CA certificate after its leaf, as real servers send their chain. It fails t on
// error.
func NewCerts(t testing.TB, selfSigned bool, names ...string) *Certs {
	t.Helper()
	var ca *testpki.CA
	var chain tls.Certificate
	var err error
	if selfSigned {
		if ca, err = testpki.NewCA(names[0], names...); err != nil {
			t.Fatalf("popclienttest: %v", err)
		}
		chain = ca.Self()
	} else {
		if ca, err = testpki.NewCA("popclienttest CA"); err != nil {
			t.Fatalf("popclienttest: %v", err)
		}
		if chain, err = ca.Issue(names[0], names...); err != nil {
			t.Fatalf("popclienttest: %v", err)
		}
		chain.Certificate = append(chain.Certificate, ca.Cert().Raw)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WriteCertPEM(file, 0o644); err != nil {
		t.Fatalf("popclienttest: %v", err)
	}
	return &Certs{CAFile: file, Pool: ca.Pool(), Server: &tls.Config{Certificates: []tls.Certificate{chain}, MinVersion: tls.VersionTLS12}}
}
