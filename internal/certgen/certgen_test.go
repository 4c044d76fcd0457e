package certgen

import (
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// notBefore and notAfter are the validity of the test certificates: fixed, so that the test
// checks the exact times (a certificate holds whole seconds).
var (
	notBefore = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	notAfter  = notBefore.AddDate(1, 0, 0)
)

// newCA generates a self-signed CA for the tests, valid for names.
func newCA(t *testing.T, names ...string) Pair {
	t.Helper()
	ca, err := Generate(Request{
		Subject:   pkix.Name{Organization: []string{"certgen test"}, CommonName: "certgen CA"},
		NotBefore: notBefore,
		NotAfter:  notAfter,
		Names:     names,
		CA:        true,
		KeyUsage:  x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// checkCommon checks what every generated certificate has: a P-256 key of its own, a positive
// serial below 2^127, the requested validity and a signature by issuer.
func checkCommon(t *testing.T, p, issuer Pair) {
	t.Helper()
	if p.Key.Curve != elliptic.P256() || !p.Key.PublicKey.Equal(p.Cert.PublicKey) {
		t.Errorf("key on %s, or not the certificate's", p.Key.Curve.Params().Name)
	}
	if s := p.Cert.SerialNumber; s.Sign() <= 0 || s.BitLen() > 127 {
		t.Errorf("serial %v, want positive and below 2^127", s)
	}
	if !p.Cert.NotBefore.Equal(notBefore) || !p.Cert.NotAfter.Equal(notAfter) {
		t.Errorf("valid %v to %v, want %v to %v", p.Cert.NotBefore, p.Cert.NotAfter, notBefore, notAfter)
	}
	if err := p.Cert.CheckSignatureFrom(issuer.Cert); err != nil || p.Cert.Issuer.String() != issuer.Cert.Subject.String() {
		t.Errorf("issuer %v, signature: %v", p.Cert.Issuer, err)
	}
}

func TestGenerateSelfSignedCA(t *testing.T) {
	ca := newCA(t, "ca.test", "192.0.2.1", "2001:db8::1", "other.test")
	checkCommon(t, ca, ca)
	c := ca.Cert
	if c.Subject.CommonName != "certgen CA" || !slices.Equal(c.Subject.Organization, []string{"certgen test"}) {
		t.Errorf("subject %v", c.Subject)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints CA %v valid %v path %d zero %v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || len(c.ExtKeyUsage) != 0 {
		t.Errorf("usage %v %v", c.KeyUsage, c.ExtKeyUsage)
	}
	wantIPs := []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")}
	if !slices.Equal(c.DNSNames, []string{"ca.test", "other.test"}) || !slices.EqualFunc(c.IPAddresses, wantIPs, net.IP.Equal) {
		t.Errorf("names %v %v", c.DNSNames, c.IPAddresses)
	}
	if len(c.SubjectKeyId) == 0 {
		t.Error("a CA without a subject key id")
	}
}

func TestGenerateIssued(t *testing.T) {
	ca := newCA(t)
	leaf, err := Generate(Request{
		Subject:     pkix.Name{CommonName: "pop.test"},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		Names:       []string{"pop.test", "127.0.0.1"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, &ca)
	if err != nil {
		t.Fatal(err)
	}
	checkCommon(t, leaf, ca)
	c := leaf.Cert
	if c.IsCA || c.BasicConstraintsValid || len(c.Subject.Names) != 1 {
		t.Errorf("leaf: CA %v, basic constraints %v, subject %v", c.IsCA, c.BasicConstraintsValid, c.Subject)
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature || !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("usage %v %v", c.KeyUsage, c.ExtKeyUsage)
	}
	if !slices.Equal(c.AuthorityKeyId, ca.Cert.SubjectKeyId) {
		t.Errorf("authority key id %x, want %x", c.AuthorityKeyId, ca.Cert.SubjectKeyId)
	}
	if c.SerialNumber.Cmp(ca.Cert.SerialNumber) == 0 || leaf.Key.Equal(ca.Key) {
		t.Error("the leaf shares the CA's serial number or key")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, name := range []string{"pop.test", "127.0.0.1"} {
		opts := x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: notBefore.Add(time.Hour)}
		if _, err := c.Verify(opts); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestGenerateRefusesAMismatchedIssuer(t *testing.T) {
	a, b := newCA(t), newCA(t)
	_, err := Generate(Request{Subject: pkix.Name{CommonName: "x"}, NotBefore: notBefore, NotAfter: notAfter},
		&Pair{Cert: a.Cert, Key: b.Key})
	if err == nil || !strings.HasPrefix(err.Error(), "certgen: ") {
		t.Fatalf("Generate with another CA's key: %v, want a certgen error", err)
	}
}
