package popclienttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs is a server certificate and the CA that signed it (itself when self-signed).
type Certs struct {
	CAFile string         // PEM file of the CA certificate, in the test's temp dir
	Pool   *x509.CertPool // a pool holding only the CA
	Server *tls.Config    // server configuration presenting the certificate
}

// NewCerts issues a certificate for names (DNS names or IP addresses) signed by a new CA, or
// self-signed when selfSigned is set. It fails t on error.
func NewCerts(t testing.TB, selfSigned bool, names ...string) *Certs {
	t.Helper()
	caKey := newKey(t)
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "popclienttest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	leafKey := caKey
	leaf := ca
	if !selfSigned {
		leafKey = newKey(t)
		leaf = &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano() + 1),
			Subject:      pkix.Name{CommonName: names[0]},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
	} else {
		ca.Subject.CommonName = names[0]
		ca.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			leaf.IPAddresses = append(leaf.IPAddresses, ip)
		} else {
			leaf.DNSNames = append(leaf.DNSNames, n)
		}
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("popclienttest: CA: %v", err)
	}
	leafDER := caDER
	if !selfSigned {
		caCert, err := x509.ParseCertificate(caDER)
		if err != nil {
			t.Fatalf("popclienttest: CA: %v", err)
		}
		if leafDER, err = x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey); err != nil {
			t.Fatalf("popclienttest: leaf: %v", err)
		}
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, caPEM, 0o644); err != nil {
		t.Fatalf("popclienttest: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	chain := tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
	if !selfSigned {
		chain.Certificate = append(chain.Certificate, caDER)
	}
	return &Certs{CAFile: file, Pool: pool, Server: &tls.Config{Certificates: []tls.Certificate{chain}, MinVersion: tls.VersionTLS12}}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("popclienttest: key: %v", err)
	}
	return k
}
