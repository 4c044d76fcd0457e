package proxy

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/popwire/popwire/internal/certgen"
)

// The file names of the local certificate authority and leaf under the certificate directory.
const (
	caFileName   = "ca.pem"
	caKeyName    = "ca-key.pem"
	leafFileName = "cert.pem"
	leafKeyName  = "key.pem"
)

// LocalCert is popwire's own client-leg certificate: a small CA and a leaf for localhost,
// 127.0.0.1 and ::1 signed by it.
type LocalCert struct {
	Dir         string          // the directory holding the files
	CAFile      string          // path of the CA certificate (PEM) a client can be told to trust
	Fingerprint string          // SHA-256 of the CA certificate (DER), upper-case hex with colons
	CAPEM       []byte          // the CA certificate, PEM encoded
	Certificate tls.Certificate // the leaf with its chain, ready for tls.Config
}

// DefaultCertDir returns $XDG_CONFIG_HOME/popwire, or ~/.config/popwire when XDG_CONFIG_HOME
// is unset or not absolute (XDG Base Directory Specification).
func DefaultCertDir() (string, error) {
	if x := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "popwire"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("proxy: no config directory: %w", err)
	}
	return filepath.Join(home, ".config", "popwire"), nil
}

// LoadOrCreateLocalCert loads the local CA and leaf from dir, creating what is missing:
// the directory with mode 0700, an ECDSA P-256 CA, and a leaf for localhost, 127.0.0.1
// and ::1; key files get mode 0600. A leaf that expires within a day is replaced.
func LoadOrCreateLocalCert(dir string) (*LocalCert, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("proxy: local certificate: %w", err)
	}
	caCert, caKey, err := loadPair(filepath.Join(dir, caFileName), filepath.Join(dir, caKeyName))
	if errors.Is(err, fs.ErrNotExist) {
		caCert, caKey, err = createCert(dir, caFileName, caKeyName, nil, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: local CA: %w", err)
	}
	leaf, leafKey, err := loadPair(filepath.Join(dir, leafFileName), filepath.Join(dir, leafKeyName))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && (time.Until(leaf.NotAfter) < 24*time.Hour || leaf.CheckSignatureFrom(caCert) != nil)) {
		leaf, leafKey, err = createCert(dir, leafFileName, leafKeyName, caCert, caKey)
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: local certificate: %w", err)
	}
	sum := sha256.Sum256(caCert.Raw)
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02X", b)
	}
	return &LocalCert{
		Dir:         dir,
		CAFile:      filepath.Join(dir, caFileName),
		Fingerprint: strings.Join(hexes, ":"),
		CAPEM:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw}),
		Certificate: tls.Certificate{Certificate: [][]byte{leaf.Raw, caCert.Raw}, PrivateKey: leafKey, Leaf: leaf},
	}, nil
}

func loadPair(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s or %s: no PEM data", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return cert, key, nil
}

// createCert makes a CA (parent nil) or a localhost leaf signed by parent with certgen, and
// writes both files.
func createCert(dir, certName, keyName string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	now := time.Now()
	req := certgen.Request{Subject: pkix.Name{Organization: []string{"popwire"}}, NotBefore: now.Add(-time.Hour)}
	var issuer *certgen.Pair
	if parent == nil {
		host, _ := os.Hostname()
		req.Subject.CommonName = "popwire local CA " + host
		req.NotAfter = now.AddDate(10, 0, 0)
		req.CA = true
		req.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		req.Subject.CommonName = "localhost"
		req.NotAfter = now.AddDate(0, 0, 825)
		req.Names = []string{"localhost", "127.0.0.1", "::1"}
		req.KeyUsage = x509.KeyUsageDigitalSignature
		req.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		issuer = &certgen.Pair{Cert: parent, Key: parentKey}
	}
	p, err := certgen.Generate(req, issuer)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(p.Key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, certName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Cert.Raw}), 0o644); err != nil {
		return nil, nil, err
	}
	return p.Cert, p.Key, nil
}

// writeFileAtomic writes data to a temporary file with mode perm and renames it over path,
// so a concurrent reader never sees half a file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
