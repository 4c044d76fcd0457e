// Package certgen is the one X.509 certificate generator of this module: a fresh ECDSA P-256
// key and a certificate for it, self-signed or signed by a CA. `popwire cert` makes the user's
// local CA and localhost certificate with it (proxy.LoadOrCreateLocalCert), and
// internal/testpki makes throw-away test PKI with it. The caller chooses the subject, names,
// validity and usages; how they become a certificate is written here once.
package certgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Request describes a certificate to generate.
type Request struct {
	Subject     pkix.Name
	NotBefore   time.Time // a certificate holds whole seconds: what is finer is dropped
	NotAfter    time.Time
	Names       []string // subject alternative names: IP literals become IP addresses, the rest DNS names
	CA          bool     // a CA that may sign certificates but no intermediate CA (path length zero)
	KeyUsage    x509.KeyUsage
	ExtKeyUsage []x509.ExtKeyUsage
}

// Pair is a certificate and its private key.
type Pair struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Generate makes a new P-256 key and a certificate for it as r asks, with a random serial number
// below 2^127, signed by issuer, or self-signed when issuer is nil.
func Generate(r Request, issuer *Pair) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("certgen: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return Pair{}, fmt.Errorf("certgen: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      r.Subject,
		NotBefore:    r.NotBefore,
		NotAfter:     r.NotAfter,
		KeyUsage:     r.KeyUsage,
		ExtKeyUsage:  r.ExtKeyUsage,
	}
	if r.CA {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.MaxPathLenZero = true, true, true
	}
	for _, n := range r.Names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	parent, parentKey := tmpl, key
	if issuer != nil {
		parent, parentKey = issuer.Cert, issuer.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return Pair{}, fmt.Errorf("certgen: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, fmt.Errorf("certgen: %w", err)
	}
	return Pair{Cert: cert, Key: key}, nil
}
