package popclient_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/popclient/popclienttest"
)

// bufferedConn reads through r, which buffers the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// TestDialSendsProxyHeader checks that Dial writes Dialer.ProxyHeader first, before the TLS
// handshake of implicit TLS: the server parses it with go-proxyproto, then runs TLS on what
// follows.
func TestDialSendsProxyHeader(t *testing.T) {
	certs := popclienttest.NewCerts(t, false, "pop.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *proxyproto.Header, 1)
	go serveProxied(ln, certs.Server, got)

	src := &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 40000}
	dst := &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 995}
	d := &popclient.Dialer{Addr: ln.Addr().String(), ServerName: "pop.test", RootCAs: certs.Pool, Timeout: 5 * time.Second,
		ReadGreeting: true, ProxyHeader: proxyproto.HeaderProxyFromAddrs(2, src, dst)}
	up, err := d.Dial(t.Context())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer up.Conn.Close()
	if string(up.Greeting) != "+OK proxied\r\n" {
		t.Fatalf("greeting %q", up.Greeting)
	}
	h := <-got
	if h == nil || h.Version != 2 || !h.Command.IsProxy() || h.SourceAddr.String() != src.String() || h.DestinationAddr.String() != dst.String() {
		t.Fatalf("server read header %+v, want v2 PROXY %s → %s", h, src, dst)
	}
}

// serveProxied accepts one connection, reads its PROXY header (sent on got, nil if none),
// then runs TLS with cfg on the rest and writes a greeting.
func serveProxied(ln net.Listener, cfg *tls.Config, got chan<- *proxyproto.Header) {
	c, err := ln.Accept()
	if err != nil {
		got <- nil
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	h, err := proxyproto.Read(br)
	if err != nil {
		got <- nil
		return
	}
	got <- h
	tc := tls.Server(bufferedConn{c, br}, cfg)
	if tc.Handshake() == nil {
		tc.Write([]byte("+OK proxied\r\n"))
		bufio.NewReader(tc).ReadString('\n')
	}
}
