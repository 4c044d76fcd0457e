package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// handshake serves cert on a loopback listener and returns the error of a client that trusts
// roots and expects serverName.
func handshake(t *testing.T, cert tls.Certificate, roots *x509.CertPool, serverName string) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
	}()
	defer func() { <-served }()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: serverName})
	if err != nil {
		return err
	}
	return c.Close()
}

func TestHandshake(t *testing.T) {
	ca, err := NewCA("testpki CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("testpki other CA")
	if err != nil {
		t.Fatal(err)
	}
	self, err := NewCA("self.test", "self.test", "::1")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("pop.test", "pop.test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		cert       tls.Certificate
		roots      *x509.CertPool
		serverName string
		wantErr    any // nil, or a pointer to the error type errors.As must find
	}{
		{"issued, DNS name", leaf, ca.Pool(), "pop.test", nil},
		{"issued, IP literal", leaf, ca.Pool(), "127.0.0.1", nil},
		{"issued, other CA", leaf, other.Pool(), "pop.test", new(x509.UnknownAuthorityError)},
		{"issued, name not in certificate", leaf, ca.Pool(), "other.test", new(x509.HostnameError)},
		{"self-signed, own pool", self.Self(), self.Pool(), "self.test", nil},
		{"self-signed, IP literal", self.Self(), self.Pool(), "::1", nil},
		{"self-signed, issuing CA's pool", self.Self(), ca.Pool(), "self.test", new(x509.UnknownAuthorityError)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := handshake(t, tc.cert, tc.roots, tc.serverName)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("handshake: %v", err)
			case tc.wantErr != nil && (err == nil || !errors.As(err, tc.wantErr)):
				t.Fatalf("handshake: got %v, want %T", err, tc.wantErr)
			}
		})
	}
}

func TestFiles(t *testing.T) {
	ca, err := NewCA("testpki CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("pop.test", "pop.test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := ca.WriteCertPEM(caFile, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyPair(leaf, certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]os.FileMode{caFile: 0o640, certFile: 0o644, keyFile: 0o600} {
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		// The umask can only clear bits.
		if got := fi.Mode().Perm(); got&^want != 0 || got&0o600 != 0o600 {
			t.Errorf("%s: mode %v, want %v", filepath.Base(file), got, want)
		}
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file holds no certificate")
	}
	loaded, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, loaded, roots, "pop.test"); err != nil {
		t.Fatalf("handshake with the written files: %v", err)
	}
}
