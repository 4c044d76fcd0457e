// Package testpki makes throw-away certificate authorities and server certificates for tests
// and benchmarks; it is never for production. It generates them with internal/certgen, so
// every key is ECDSA P-256; every certificate is valid from an hour ago for one day only.
package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/popwire/popwire/internal/certgen"
)

// CA is a certificate authority that lives in memory. A nil or zero CA is not usable: make one
// with NewCA.
type CA struct {
	pair certgen.Pair
}

// NewCA creates a CA whose certificate has common name cn. Names (DNS names or IP literals),
// when given, also go into the CA certificate's subject alternative names, so that Self can
// serve it as a self-signed server certificate; a CA that only issues needs none.
func NewCA(cn string, names ...string) (*CA, error) {
	r := request(cn, names)
	r.CA = true
	r.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	p, err := certgen.Generate(r, nil)
	if err != nil {
		return nil, fmt.Errorf("testpki: ca: %w", err)
	}
	return &CA{pair: p}, nil
}

// Issue signs a new server certificate with common name cn for names, each a DNS name or an
// IP literal. The result holds only the leaf (its Leaf field set) and its fresh private key.
func (ca *CA) Issue(cn string, names ...string) (tls.Certificate, error) {
	r := request(cn, names)
	r.KeyUsage = x509.KeyUsageDigitalSignature
	r.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	p, err := certgen.Generate(r, &ca.pair)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testpki: server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{p.Cert.Raw}, PrivateKey: p.Key, Leaf: p.Cert}, nil
}

// Self returns the CA's own certificate and key as a server certificate: a self-signed
// certificate, valid for the names given to NewCA.
func (ca *CA) Self() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{ca.pair.Cert.Raw}, PrivateKey: ca.pair.Key, Leaf: ca.pair.Cert}
}

// Cert returns the CA certificate; the caller must not modify it.
func (ca *CA) Cert() *x509.Certificate { return ca.pair.Cert }

// Pool returns a new pool that holds only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.pair.Cert)
	return pool
}

// CertPEM returns the CA certificate PEM-encoded, in a new slice the caller owns.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.pair.Cert.Raw})
}

// request returns a certificate request with common name cn, names and the package's validity.
func request(cn string, names []string) certgen.Request {
	now := time.Now()
	return certgen.Request{
		Subject:   pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(24 * time.Hour),
		Names:     names,
	}
}
