package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/testpki"
)

// tlsEcho starts a TLS server on loopback with a leaf for "localhost" issued by a fresh CA.
// Each connection gets "+OK hi <SNI>\r\n" and then has every line it sends echoed back. It
// returns the address and the CA's pool.
func tlsEcho(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	ca, err := testpki.NewCA("relay test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("localhost", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					return
				}
				io.WriteString(c, "+OK hi "+tc.ConnectionState().ServerName+"\r\n")
				io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String(), ca.Pool()
}

// startRelay runs serve on a loopback listener until the test ends and returns its address.
func startRelay(t *testing.T, upstream string, cfg *tls.Config) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go serve(l, upstream, cfg)
	return l.Addr().String()
}

func TestRelayForwardsBothWays(t *testing.T) {
	upstream, roots := tlsEcho(t)
	addr := startRelay(t, upstream, clientConfig(roots, "localhost"))
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || line != "+OK hi localhost\r\n" {
		t.Fatalf("greeting %q, %v; want the upstream's, with the SNI it saw", line, err)
	}
	if _, err := io.WriteString(c, "NOOP\r\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "NOOP\r\n" {
		t.Fatalf("echo %q, %v", line, err)
	}
}

func TestRelayVerifiesUpstream(t *testing.T) {
	upstream, roots := tlsEcho(t)
	addr := startRelay(t, upstream, clientConfig(roots, "not-the-upstream.test"))
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
		t.Fatalf("relay passed %q (%v) from an upstream whose name does not match; want the connection closed", b, err)
	}
}
