package main

import (
	"path/filepath"

	"github.com/popwire/popwire/internal/testpki"
)

// upstreamName is the name the upstream certificate is issued to; every contender verifies it.
const upstreamName = "localhost"

// certFiles names the PEM files of the benchmark's private CA and the upstream's leaf.
type certFiles struct {
	CA, Cert, Key string
}

// writeCerts creates, in dir, a throw-away CA and a leaf for localhost and 127.0.0.1 signed
// by it (see package testpki), and returns the file names.
func writeCerts(dir string) (certFiles, error) {
	files := certFiles{
		CA:   filepath.Join(dir, "ca.pem"),
		Cert: filepath.Join(dir, "upstream.pem"),
		Key:  filepath.Join(dir, "upstream-key.pem"),
	}
	ca, err := testpki.NewCA("popwire bench CA")
	if err != nil {
		return files, err
	}
	leaf, err := ca.Issue(upstreamName, upstreamName, "127.0.0.1")
	if err != nil {
		return files, err
	}
	if err := ca.WriteCertPEM(files.CA, 0o600); err != nil {
		return files, err
	}
	return files, testpki.WriteKeyPair(leaf, files.Cert, files.Key)
}
