package popclient

import (
	"crypto/x509"
	"fmt"
	"os"
)

// LoadRoots returns the system root pool with the PEM certificates of files added, for
// verifying the server (--upstream-ca). With no files it returns nil: the system pool.
func LoadRoots(files ...string) (*x509.CertPool, error) {
	if len(files) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("popclient: upstream CA: %w", err)
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("popclient: upstream CA %s: no PEM certificate found", f)
		}
	}
	return pool, nil
}
