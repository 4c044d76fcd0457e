package proxy

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
)

// trustedLoopback is the PROXY protocol of a listener behind a load balancer on 127.0.0.1.
var trustedLoopback = &ProxyProtocol{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// proxyHeader returns a PROXY header (v1 or v2) saying that src connected to dst.
func proxyHeader(t *testing.T, version byte, src, dst string) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(version, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// localHeader is a PROXY v2 LOCAL header: the load balancer's own connection (a health check).
func localHeader(t *testing.T) []byte {
	t.Helper()
	b, err := (&proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}).Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openEvent waits for the session's open event.
func (p *testProxy) openEvent(t *testing.T) logview.Event {
	t.Helper()
	return p.sink.find(t, "open", func(e logview.Event) bool { return e.Kind == logview.KindOpen })
}

// refusedHeader waits for the error event that refused a connection for its PROXY header.
func (p *testProxy) refusedHeader(t *testing.T, why string) logview.Event {
	t.Helper()
	return p.sink.find(t, "PROXY refusal ("+why+")", func(e logview.Event) bool {
		return e.Kind == logview.KindError && strings.Contains(e.Err, "PROXY") && strings.Contains(e.Err, why)
	})
}

// noOpen fails t if a session opened.
func (p *testProxy) noOpen(t *testing.T) {
	t.Helper()
	if open := p.sink.kinds(logview.KindOpen); len(open) > 0 {
		t.Fatalf("a session opened: %+v", open)
	}
}

func TestProxyProtocolV1(t *testing.T) {
	up := newUpstream(t, false, scriptReplies(map[string]string{"NOOP": "+OK v1\r\n"}))
	p := startProxy(t, Config{ProxyProtocol: trustedLoopback}, up.addr())
	c := p.dialFrom(t, "127.0.0.1", false)
	// The first command comes in the same segment as the header: the bytes read past the
	// header are the session's.
	c.send(t, string(proxyHeader(t, 1, "192.0.2.7:40000", "198.51.100.1:110"))+"NOOP\r\n")
	if got := c.line(t); got != greeting {
		t.Fatalf("greeting %q", got)
	}
	if got := c.line(t); got != "+OK v1\r\n" {
		t.Fatalf("NOOP got %q", got)
	}
	open := p.openEvent(t)
	if open.Client != "192.0.2.7:40000" || open.Via != c.LocalAddr().String() {
		t.Fatalf("open client %q via %q, want 192.0.2.7:40000 via %s", open.Client, open.Via, c.LocalAddr())
	}
}

func TestProxyProtocolV2OverTLS(t *testing.T) {
	up := newUpstream(t, false, scriptReplies(map[string]string{"NOOP": "+OK v2\r\n"}))
	p := startProxy(t, Config{ProxyProtocol: trustedLoopback}, up.addr())
	raw := p.dialRawFrom(t, "127.0.0.1", p.tlsl)
	if _, err := raw.Write(proxyHeader(t, 2, "203.0.113.9:51000", "198.51.100.1:995")); err != nil {
		t.Fatal(err)
	}
	good, _ := pkis(t)
	tc := tls.Client(raw, &tls.Config{RootCAs: good.pool, ServerName: "localhost"})
	c := &clientConn{Conn: tc, r: bufio.NewReader(tc)}
	if got := c.line(t); got != greeting {
		t.Fatalf("greeting %q", got)
	}
	c.send(t, "NOOP\r\n")
	if got := c.line(t); got != "+OK v2\r\n" {
		t.Fatalf("NOOP got %q", got)
	}
	if open := p.openEvent(t); open.Client != "203.0.113.9:51000" || open.Listener != "tls" || open.Via != raw.LocalAddr().String() {
		t.Fatalf("open %+v, want client 203.0.113.9:51000 on tls via %s", open, raw.LocalAddr())
	}
}

func TestProxyProtocolIPv6(t *testing.T) {
	up := newUpstream(t, false, silentUpstream)
	p := startProxy(t, Config{ProxyProtocol: trustedLoopback}, up.addr())
	c := p.dialFrom(t, "127.0.0.1", false)
	c.send(t, string(proxyHeader(t, 2, "[2001:db8::7]:40000", "[2001:db8::1]:110")))
	if got := c.line(t); got != greeting {
		t.Fatalf("greeting %q", got)
	}
	if open := p.openEvent(t); open.Client != "[2001:db8::7]:40000" {
		t.Fatalf("open client %q, want [2001:db8::7]:40000", open.Client)
	}
}

// TestProxyProtocolSplitHeader sends a v2 header in pieces: it is read whole. A v1 header is
// a line that go-proxyproto wants in one read (a partial line looks like a slow-loris client,
// and the spec lets a receiver drop it): it is refused.
func TestProxyProtocolSplitHeader(t *testing.T) {
	up := newUpstream(t, false, silentUpstream)
	p := startProxy(t, Config{ProxyProtocol: trustedLoopback}, up.addr())
	c := p.dialFrom(t, "127.0.0.1", false)
	h := proxyHeader(t, 2, "192.0.2.8:40000", "198.51.100.1:110")
	for _, piece := range [][]byte{h[:3], h[3:14], h[14:]} {
		c.send(t, string(piece))
		time.Sleep(20 * time.Millisecond) // separate segments
	}
	if got := c.line(t); got != greeting {
		t.Fatalf("greeting %q", got)
	}
	if open := p.openEvent(t); open.Client != "192.0.2.8:40000" {
		t.Fatalf("open client %q", open.Client)
	}

	v1 := p.dialFrom(t, "127.0.0.1", false)
	line := proxyHeader(t, 1, "192.0.2.9:40000", "198.51.100.1:110")
	v1.send(t, string(line[:10]))
	time.Sleep(20 * time.Millisecond)
	v1.send(t, string(line[10:]))
	if got := v1.rest(t); got != "" {
		t.Fatalf("client with a split v1 header got %q, want the connection closed", got)
	}
	p.refusedHeader(t, "version 1")
}

func TestProxyProtocolRefusals(t *testing.T) {
	up := newUpstream(t, false, silentUpstream)
	go drainConns(t, up)
	const refusedUntrusted = "-ERR [SYS/PERM] popwire: this listener takes clients through a trusted proxy only\r\n"
	for _, tc := range []struct {
		name    string
		from    string
		trusted string
		send    []byte
		client  string // what the client gets before the close
		why     string // in the error event
	}{
		{"untrusted with header", "127.0.0.1", "127.0.0.2/32", proxyHeader(t, 2, "192.0.2.7:40000", "198.51.100.1:110"),
			refusedUntrusted, "not a trusted proxy"},
		{"untrusted without header", "127.0.0.1", "127.0.0.2/32", nil, refusedUntrusted, "not a trusted proxy"},
		{"trusted without header", "127.0.0.1", "127.0.0.0/8", []byte("CAPA\r\n"), "", "no PROXY header"},
		{"garbage v1", "127.0.0.1", "127.0.0.0/8", []byte("PROXY TCP4 192.0.2.7 x 1 2\r\n"), "", "PROXY header"},
		{"garbage v2", "127.0.0.1", "127.0.0.0/8", append(append([]byte{}, proxyproto.SIGV2...), 0x29, 0x11, 0, 12), "", "PROXY header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pp := &ProxyProtocol{Trusted: []netip.Prefix{netip.MustParsePrefix(tc.trusted)}}
			p := startProxy(t, Config{ProxyProtocol: pp}, up.addr())
			c := p.dialFrom(t, tc.from, false)
			if tc.send != nil {
				c.send(t, string(tc.send))
			}
			if got := c.rest(t); got != tc.client {
				t.Fatalf("client got %q, want %q", got, tc.client)
			}
			e := p.refusedHeader(t, tc.why)
			if e.Listener != "plain" || (e.Client == "" && e.Via == "") {
				t.Fatalf("refusal event %+v does not name the listener and the peer", e)
			}
			p.noOpen(t)
		})
	}
}

// TestProxyProtocolSlowHeader checks that a trusted peer that does not finish its header is
// given up on after the header deadline (here the shorter HandshakeTimeout).
func TestProxyProtocolSlowHeader(t *testing.T) {
	up := newUpstream(t, false, silentUpstream)
	p := startProxy(t, Config{ProxyProtocol: trustedLoopback, HandshakeTimeout: 200 * time.Millisecond}, up.addr())
	for _, partial := range [][]byte{nil, proxyHeader(t, 2, "192.0.2.7:40000", "198.51.100.1:110")[:20]} {
		c := p.dialFrom(t, "127.0.0.1", false)
		c.send(t, string(partial))
		if got := c.rest(t); got != "" {
			t.Fatalf("client got %q, want the connection closed", got)
		}
	}
	p.refusedHeader(t, "no PROXY header")
	p.noOpen(t)
}

// TestProxyProtocolLocal checks that a LOCAL header, the load balancer's health check, is
// closed quietly: no session, no upstream, no error.
func TestProxyProtocolLocal(t *testing.T) {
	up := newUpstream(t, false, silentUpstream)
	p := startProxy(t, Config{ProxyProtocol: trustedLoopback}, up.addr())
	c := p.dialFrom(t, "127.0.0.1", false)
	c.send(t, string(localHeader(t)))
	if got := c.rest(t); got != "" {
		t.Fatalf("health check got %q, want the connection closed", got)
	}
	// A session after it shows that it was over and logged nothing.
	after := p.dialFrom(t, "127.0.0.1", false)
	after.send(t, string(proxyHeader(t, 2, "192.0.2.7:40000", "198.51.100.1:110")))
	after.line(t)
	p.openEvent(t)
	if n := len(p.sink.kinds(logview.KindOpen)); n != 1 {
		t.Fatalf("%d sessions opened, want 1", n)
	}
	if errs := p.sink.kinds(logview.KindError); len(errs) > 0 {
		t.Fatalf("a LOCAL header was logged as an error: %+v", errs)
	}
	if n := len(up.conns); n != 1 {
		t.Fatalf("the upstream got %d connections, want 1 (the health check must not reach it)", n)
	}
}

// TestProxyProtocolPerAddress checks that --max-conns-per-ip counts the client addresses of
// the headers, not the load balancer's.
func TestProxyProtocolPerAddress(t *testing.T) {
	up := newUpstream(t, false, silentUpstream)
	go drainConns(t, up)
	p := startProxy(t, Config{ProxyProtocol: trustedLoopback, MaxConnsPerIP: 1}, up.addr())
	from := func(src string) *clientConn {
		c := p.dialFrom(t, "127.0.0.1", false)
		c.send(t, string(proxyHeader(t, 2, src, "198.51.100.1:110")))
		return c
	}
	if got := from("192.0.2.7:40000").line(t); got != greeting {
		t.Fatalf("first client got %q", got)
	}
	if got := from("192.0.2.7:40001").rest(t); got != string(replyTooManyFromAddr) {
		t.Fatalf("second client from 192.0.2.7 got %q, want %q", got, replyTooManyFromAddr)
	}
	e := p.sink.find(t, "per-address refusal", func(e logview.Event) bool {
		return e.Kind == logview.KindError && strings.Contains(e.Err, "too many connections from 192.0.2.7")
	})
	if e.Client != "192.0.2.7:40001" || e.Via == "" {
		t.Fatalf("refusal event client %q via %q", e.Client, e.Via)
	}
	if got := from("192.0.2.8:40000").line(t); got != greeting {
		t.Fatalf("client from 192.0.2.8 got %q", got)
	}

	// On the TLS listener the refused client gets its line over TLS, the handshake reading
	// what came after the header.
	raw := p.dialRawFrom(t, "127.0.0.1", p.tlsl)
	if _, err := raw.Write(proxyHeader(t, 2, "192.0.2.7:40002", "198.51.100.1:995")); err != nil {
		t.Fatal(err)
	}
	good, _ := pkis(t)
	tc := tls.Client(raw, &tls.Config{RootCAs: good.pool, ServerName: "localhost"})
	if got := (&clientConn{Conn: tc, r: bufio.NewReader(tc)}).rest(t); got != string(replyTooManyFromAddr) {
		t.Fatalf("TLS client from 192.0.2.7 got %q, want %q", got, replyTooManyFromAddr)
	}
}

// TestProxyProtocolOut checks that ProxyProtocolOut sends the upstream a v2 header with the
// client's address from the header in, before any POP3 byte.
func TestProxyProtocolOut(t *testing.T) {
	headers := make(chan *proxyproto.Header, 2)
	up := newUpstream(t, true, func(u *upstreamConn) {
		h, err := proxyproto.Read(u.r)
		if err != nil {
			headers <- nil
			return
		}
		headers <- h
		silentUpstream(u)
	})
	p := startProxyCert(t, Config{ProxyProtocol: trustedLoopback, ProxyProtocolOut: true,
		UpstreamMode: popclient.UpstreamPlaintext, InsecureUpstreamPlaintext: true}, up.addr())
	c := p.dialFrom(t, "127.0.0.1", false)
	c.send(t, string(proxyHeader(t, 1, "192.0.2.7:40000", "198.51.100.1:110")))
	if got := c.line(t); got != greeting {
		t.Fatalf("greeting %q", got)
	}
	h := <-headers
	if h == nil {
		t.Fatal("the upstream got no PROXY header")
	}
	if h.Version != 2 || h.SourceAddr.String() != "192.0.2.7:40000" || h.DestinationAddr.String() != "198.51.100.1:110" {
		t.Fatalf("upstream header v%d %v → %v, want v2 192.0.2.7:40000 → 198.51.100.1:110", h.Version, h.SourceAddr, h.DestinationAddr)
	}
}

// TestProxyProtocolOutDirect checks the header out for a client that connected directly: its
// socket addresses.
func TestProxyProtocolOutDirect(t *testing.T) {
	headers := make(chan *proxyproto.Header, 1)
	up := newUpstream(t, true, func(u *upstreamConn) {
		h, _ := proxyproto.Read(u.r)
		headers <- h
		silentUpstream(u)
	})
	p := startProxyCert(t, Config{ProxyProtocolOut: true, UpstreamMode: popclient.UpstreamPlaintext, InsecureUpstreamPlaintext: true}, up.addr())
	c := p.dialFrom(t, "127.0.0.2", false)
	c.line(t)
	h := <-headers
	if h == nil || h.SourceAddr.String() != c.LocalAddr().String() || h.DestinationAddr.String() != p.plain {
		t.Fatalf("upstream header %+v, want %s → %s", h, c.LocalAddr(), p.plain)
	}
}

func TestParseTrusted(t *testing.T) {
	got, err := ParseTrusted([]string{"127.0.0.0/8", " 10.1.2.3/16 ,::1/128"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("::1/128")}
	if len(got) != len(want) {
		t.Fatalf("ParseTrusted = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ParseTrusted = %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"10.0.0.1", "", "10.0.0.0/33", "example.com/8"} {
		if _, err := ParseTrusted([]string{bad}); err == nil {
			t.Errorf("ParseTrusted(%q) accepted", bad)
		}
	}
	if _, err := ParseTrusted(nil); err == nil {
		t.Error("ParseTrusted(nil) accepted no network")
	}
	if (&ProxyProtocol{Trusted: want}).trusts(&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.5")}) != true {
		t.Error("an IPv4-mapped peer in 127.0.0.0/8 is not trusted")
	}
}

func TestProxyListenerNeedsTrusted(t *testing.T) {
	if _, err := New(Config{ProxyProtocol: &ProxyProtocol{}}); err == nil {
		t.Error("New accepted a PROXY protocol with no trusted network")
	}
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(Listener{Listener: ln, ProxyProtocol: &ProxyProtocol{}}); err == nil || !strings.Contains(err.Error(), "trusted") {
		t.Errorf("Serve of a PROXY listener with no trusted network: %v", err)
	}
}

// dialRawFrom opens a plain TCP connection from the loopback address from to addr.
func (p *testProxy) dialRawFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}
