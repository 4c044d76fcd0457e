package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
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
