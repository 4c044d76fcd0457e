package e2e

import (
	"path/filepath"

	"github.com/popwire/popwire/internal/testpki"
)

// serverName is the DNS name in the test Dovecot's certificate and what popwire is told to
// verify with --upstream-name.
const serverName = "dovecot.popwire.test"

// testCA is a throwaway certificate authority generated for one test run.
type testCA struct {
	ca      *testpki.CA
	CertPEM string // path of the CA certificate, PEM
}

// newTestCA creates a CA named cn and writes its certificate to dir/name.pem.
func newTestCA(dir, name, cn string) (*testCA, error) {
	ca, err := testpki.NewCA(cn)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name+".pem")
	if err := ca.WriteCertPEM(path, 0o644); err != nil {
		return nil, err
	}
	return &testCA{ca: ca, CertPEM: path}, nil
}

// issueServer signs a leaf for serverName, localhost and 127.0.0.1 and writes it to
// dir/name.pem with its key in dir/name.key; it returns both paths. Dovecot's master process
// reads the key as root (or as the test user) before dropping privileges, so the key file's
// owner-only mode is enough.
func (ca *testCA) issueServer(dir, name string) (certPath, keyPath string, err error) {
	leaf, err := ca.ca.Issue(serverName, serverName, "localhost", "127.0.0.1")
	if err != nil {
		return "", "", err
	}
	certPath = filepath.Join(dir, name+".pem")
	keyPath = filepath.Join(dir, name+".key")
	if err := testpki.WriteKeyPair(leaf, certPath, keyPath); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}
