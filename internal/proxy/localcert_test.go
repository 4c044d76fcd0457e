package proxy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestLocalCertCreatedOnceAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "popwire")
	first, err := LoadOrCreateLocalCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreateLocalCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.Fingerprint != second.Fingerprint || string(first.Certificate.Certificate[0]) != string(second.Certificate.Certificate[0]) {
		t.Fatal("certificate was not reused")
	}
	modes := map[string]os.FileMode{".": 0o700, caKeyName: 0o600, leafKeyName: 0o600}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(first.CAPEM) {
		t.Fatal("CA PEM does not parse")
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := first.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("leaf not valid for %s: %v", name, err)
		}
	}
	if _, err := tls.X509KeyPair(mustRead(t, filepath.Join(dir, leafFileName)), mustRead(t, filepath.Join(dir, leafKeyName))); err != nil {
		t.Fatalf("leaf files do not pair: %v", err)
	}
}

func TestDefaultCertDir(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/x/config")
	if d, _ := DefaultCertDir(); d != "/x/config/popwire" {
		t.Fatalf("got %q", d)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, _ := DefaultCertDir(); d != "/home/u/.config/popwire" {
		t.Fatalf("got %q", d)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLocalCertProfile pins what `popwire cert` generates: the keys, names, validity, usages
// and PEM types of the local CA and of its localhost leaf.
func TestLocalCertProfile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "popwire")
	start := time.Now()
	lc, err := LoadOrCreateLocalCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	ca, caKey := readProfilePair(t, filepath.Join(dir, caFileName), filepath.Join(dir, caKeyName))
	leaf, leafKey := readProfilePair(t, filepath.Join(dir, leafFileName), filepath.Join(dir, leafKeyName))
	host, _ := os.Hostname()
	tests := []struct {
		name      string
		cert      *x509.Certificate
		cn        string
		years     int
		days      int
		usage     x509.KeyUsage
		ext       []x509.ExtKeyUsage
		dns       []string
		ips       []net.IP
		isCA      bool
		extension int // how many extensions the certificate carries
	}{
		{"CA", ca, "popwire local CA " + host, 10, 0, x509.KeyUsageCertSign | x509.KeyUsageCRLSign, nil, nil, nil, true, 3},
		{"leaf", leaf, "localhost", 0, 825, x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			[]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, false, 4},
	}
	for _, tt := range tests {
		c := tt.cert
		if !slices.Equal(c.Subject.Organization, []string{"popwire"}) || c.Subject.CommonName != tt.cn ||
			len(c.Subject.Names) != 2 {
			t.Errorf("%s: subject %v, want O=popwire, CN=%s", tt.name, c.Subject, tt.cn)
		}
		if c.Issuer.String() != ca.Subject.String() {
			t.Errorf("%s: issuer %v, want %v", tt.name, c.Issuer, ca.Subject)
		}
		if err := c.CheckSignatureFrom(ca); err != nil || c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
			t.Errorf("%s: signature %v by the CA: %v", tt.name, c.SignatureAlgorithm, err)
		}
		if nb := c.NotBefore; nb.Before(start.Add(-time.Hour-time.Second)) || nb.After(end.Add(-time.Hour)) {
			t.Errorf("%s: not before %v, want an hour before %v", tt.name, nb, start)
		}
		if want := c.NotBefore.Add(time.Hour).In(time.Local).AddDate(tt.years, 0, tt.days); !c.NotAfter.Equal(want) {
			t.Errorf("%s: not after %v, want %v", tt.name, c.NotAfter, want)
		}
		if c.KeyUsage != tt.usage || !slices.Equal(c.ExtKeyUsage, tt.ext) {
			t.Errorf("%s: usage %v %v, want %v %v", tt.name, c.KeyUsage, c.ExtKeyUsage, tt.usage, tt.ext)
		}
		if !slices.Equal(c.DNSNames, tt.dns) || !slices.EqualFunc(c.IPAddresses, tt.ips, net.IP.Equal) ||
			len(c.EmailAddresses) != 0 || len(c.URIs) != 0 {
			t.Errorf("%s: names %v %v, want %v %v", tt.name, c.DNSNames, c.IPAddresses, tt.dns, tt.ips)
		}
		if c.IsCA != tt.isCA || c.BasicConstraintsValid != tt.isCA || c.MaxPathLen != 0 || c.MaxPathLenZero != tt.isCA {
			t.Errorf("%s: basic constraints CA %v valid %v path %d zero %v", tt.name, c.IsCA, c.BasicConstraintsValid,
				c.MaxPathLen, c.MaxPathLenZero)
		}
		if len(c.Extensions) != tt.extension {
			t.Errorf("%s: %d extensions, want %d", tt.name, len(c.Extensions), tt.extension)
		}
		if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 127 {
			t.Errorf("%s: serial %v, want positive and below 2^127", tt.name, c.SerialNumber)
		}
	}
	if !slices.Equal(leaf.AuthorityKeyId, ca.SubjectKeyId) || len(ca.SubjectKeyId) == 0 {
		t.Errorf("leaf authority key id %x, want the CA's subject key id %x", leaf.AuthorityKeyId, ca.SubjectKeyId)
	}
	for name, key := range map[string]*ecdsa.PrivateKey{"CA": caKey, "leaf": leafKey} {
		if key.Curve != elliptic.P256() {
			t.Errorf("%s key on %s, want P-256", name, key.Curve.Params().Name)
		}
	}
	if !caKey.PublicKey.Equal(ca.PublicKey) || !leafKey.PublicKey.Equal(leaf.PublicKey) || caKey.Equal(leafKey) {
		t.Error("the key files do not hold the certificates' own, distinct keys")
	}
	for _, name := range []string{caFileName, leafFileName} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v, want mode 0644", name, err)
		}
	}
	if len(lc.Certificate.Certificate) != 2 || !bytes.Equal(lc.Certificate.Certificate[0], leaf.Raw) ||
		!bytes.Equal(lc.Certificate.Certificate[1], ca.Raw) || !bytes.Equal(lc.Certificate.Leaf.Raw, leaf.Raw) {
		t.Error("the served chain is not the leaf file then the CA file")
	}
	if lc.CAFile != filepath.Join(dir, caFileName) || !bytes.Equal(lc.CAPEM, mustRead(t, lc.CAFile)) {
		t.Errorf("CAFile %s, CAPEM not its content", lc.CAFile)
	}
}

// readProfilePair reads a PEM certificate (one CERTIFICATE block) and its PEM SEC 1 key (one EC
// PRIVATE KEY block).
func readProfilePair(t *testing.T, certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	cb, rest := pem.Decode(mustRead(t, certFile))
	if cb == nil || cb.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("%s: want one CERTIFICATE block", certFile)
	}
	kb, rest := pem.Decode(mustRead(t, keyFile))
	if kb == nil || kb.Type != "EC PRIVATE KEY" || len(rest) != 0 {
		t.Fatalf("%s: want one EC PRIVATE KEY block", keyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
