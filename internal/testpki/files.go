package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// WriteCertPEM writes the CA certificate, PEM-encoded, to path with permissions perm.
func (ca *CA) WriteCertPEM(path string, perm os.FileMode) error {
	if err := os.WriteFile(path, ca.CertPEM(), perm); err != nil {
		return fmt.Errorf("testpki: %w", err)
	}
	return nil
}

// WriteKeyPair writes the certificate chain of c, PEM-encoded, to certFile with mode 0o644 and
// its private key, PEM-encoded PKCS #8 (RFC 5208), to keyFile with mode 0o600: the files
// tls.LoadX509KeyPair, Dovecot and stunnel read.
func WriteKeyPair(c tls.Certificate, certFile, keyFile string) error {
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return fmt.Errorf("testpki: key: %w", err)
	}
	if err := os.WriteFile(certFile, chain, 0o644); err != nil {
		return fmt.Errorf("testpki: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("testpki: %w", err)
	}
	return nil
}
