// Command relay is the benchmark's physical limit: the least a Go program does between a POP3
// client and its TLS server. It accepts plaintext connections, dials the upstream with
// crypto/tls (chain and name verified against -ca, the name sent as SNI, and a client session
// cache, as popwire and stunnel keep) and copies bytes both ways with io.Copy, knowing nothing
// of POP3. bench/run builds it and the harness starts it as its own process, so that its CPU
// time and memory are measured like stunnel's and popwire's:
//
//	relay -listen 127.0.0.1:PORT -upstream HOST:PORT -ca CA.pem -name localhost
//
// It runs until it is killed (the harness sends SIGTERM).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// handshakeTimeout bounds the dial and TLS handshake with the upstream.
const handshakeTimeout = 15 * time.Second

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "plaintext listener")
	upstream := flag.String("upstream", "", "TLS upstream HOST:PORT")
	caFile := flag.String("ca", "", "PEM roots that verify the upstream")
	name := flag.String("name", "", "SNI and certificate name of the upstream")
	flag.Parse()
	if err := run(*listen, *upstream, *caFile, *name); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run loads the roots, listens and serves until the listener fails.
func run(listen, upstream, caFile, name string) error {
	if upstream == "" || caFile == "" || name == "" {
		return errors.New("relay: -upstream, -ca and -name are required")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("relay: no certificate in %s", caFile)
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	return serve(l, upstream, clientConfig(roots, name))
}

// clientConfig returns the upstream TLS configuration: roots and name verified, name as SNI,
// TLS 1.2 or later, and a session cache so that later sessions resume.
func clientConfig(roots *x509.CertPool, name string) *tls.Config {
	return &tls.Config{
		RootCAs:            roots,
		ServerName:         name,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(256),
	}
}

// serve relays every connection l accepts to upstream until l fails, and returns that error.
func serve(l net.Listener, upstream string, cfg *tls.Config) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		go relayConn(c, upstream, cfg)
	}
}

// relayConn connects c to upstream over TLS and copies both ways until either side ends, then
// closes both. A failed dial or handshake closes c without a byte sent.
func relayConn(c net.Conn, upstream string, cfg *tls.Config) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", upstream)
	if err != nil {
		return
	}
	up := tls.Client(raw, cfg)
	defer up.Close()
	if err := up.HandshakeContext(ctx); err != nil {
		return
	}
	go copyThenClose(up, c)
	io.Copy(c, up)
}

// copyThenClose copies src to dst until either fails, then closes both, which also ends the
// copy in the other direction.
func copyThenClose(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}
