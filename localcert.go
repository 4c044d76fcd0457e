package main

import (
	"crypto/tls"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/proxy"
)

// localCertificate loads --cert/--key, or the local certificate (created on first use).
func localCertificate(c *cli.Context) (*tls.Certificate, error) {
	certFile, keyFile := c.String("cert"), c.String("key")
	if (certFile == "") != (keyFile == "") {
		return nil, usagef("--cert and --key go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading --cert/--key: %w", err)
		}
		return &cert, nil
	}
	lc, err := localCA()
	if err != nil {
		return nil, err
	}
	return &lc.Certificate, nil
}

// localCA returns the local CA (created on first use) that clients trust for popwire's TLS.
func localCA() (*proxy.LocalCert, error) {
	dir, err := proxy.DefaultCertDir()
	if err != nil {
		return nil, err
	}
	return proxy.LoadOrCreateLocalCert(dir)
}
