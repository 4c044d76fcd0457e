package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/metrics"
)

// ProxyProtocol is the PROXY protocol (v1 or v2, HAProxy's proxy-protocol.txt) on a listener
// behind a load balancer: every connection must come from a Trusted network and start with a
// header that names the client. A connection from elsewhere is refused, header or not (a
// client on the load balancer's listener bypasses it); one from a trusted address without a
// valid header is refused too; a LOCAL header (the load balancer's own health check) is closed
// quietly. A nil *ProxyProtocol means no PROXY protocol: the socket's peer is the client.
type ProxyProtocol struct {
	// Trusted lists the networks of the load balancers; it must not be empty. An IPv4 network
	// also matches a peer's IPv4-mapped IPv6 address.
	Trusted []netip.Prefix
}

// proxyHeaderTimeout bounds the read of a PROXY header (or the HandshakeTimeout, when
// shorter): a load balancer sends it at once, with the connection.
const proxyHeaderTimeout = 5 * time.Second

// proxyHeaderBuf is the read buffer of a PROXY header: a v1 header (at most 107 bytes) must
// fit it whole, since go-proxyproto wants it from one read.
const proxyHeaderBuf = 512

// replyUntrustedProxy is the line a client gets that connected to a PROXY listener from an
// address that is not a trusted proxy (RFC 3206 SYS/PERM: trying again will not help).
var replyUntrustedProxy = []byte("-ERR [SYS/PERM] popwire: this listener takes clients through a trusted proxy only\r\n")

// ParseTrusted reads the networks of ProxyProtocol.Trusted: CIDR prefixes such as
// 127.0.0.0/8 or fd00::/8; each value may hold several, separated by commas. A prefix with
// host bits set is taken as its network. No network at all is an error.
func ParseTrusted(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(f))
			if err != nil {
				return nil, fmt.Errorf("proxy: trusted proxy network %q is not a CIDR prefix such as 10.0.0.0/8 or fd00::/8", strings.TrimSpace(f))
			}
			out = append(out, p.Masked())
		}
	}
	if len(out) == 0 {
		return nil, errors.New("proxy: no trusted proxy network given")
	}
	return out, nil
}

// check refuses a PROXY protocol without a trusted network: it would refuse every client.
func (p *ProxyProtocol) check() error {
	if p != nil && len(p.Trusted) == 0 {
		return errors.New("proxy: the PROXY protocol needs at least one trusted proxy network")
	}
	return nil
}

// trusts reports whether a connection from a may send a PROXY header.
func (p *ProxyProtocol) trusts(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, n := range p.Trusted {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// proxiedConn is a client connection that came through a load balancer: RemoteAddr and
// LocalAddr are the addresses of its PROXY header, and reads first return what the header
// read took from the connection past the header (the client's first bytes), then read the
// connection. Only one goroutine reads it at a time, as for any client leg; buf belongs to it.
type proxiedConn struct {
	net.Conn          // the TCP connection from the load balancer
	buf      []byte   // read past the header, not yet returned by Read
	client   net.Addr // the client's address, from the header
	dest     net.Addr // the address the client connected to, from the header
}

// Read returns the bytes read past the header first.
func (c *proxiedConn) Read(b []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(b, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// RemoteAddr returns the client's address from the header.
func (c *proxiedConn) RemoteAddr() net.Addr { return c.client }

// CloseWrite half-closes the connection (see linger).
func (c *proxiedConn) CloseWrite() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return errors.New("proxy: the connection cannot half-close")
	}
	return cw.CloseWrite()
}

// SyscallConn returns the raw connection of the TCP socket (see settled).
func (c *proxiedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("proxy: not a socket")
	}
	return sc.SyscallConn()
}

// via returns the address of the load balancer a client came through, "" for a direct one.
func via(c net.Conn) string {
	if pc, ok := c.(*proxiedConn); ok {
		return pc.Conn.RemoteAddr().String()
	}
	return ""
}

// destination returns the address a client connected to: the load balancer's, from the
// header, or this listener's.
func destination(c net.Conn) net.Addr {
	if pc, ok := c.(*proxiedConn); ok {
		return pc.dest
	}
	return c.LocalAddr()
}

// errLocalHeader is the "error" of a header with the LOCAL command: the load balancer's own
// connection, a health check, with no client behind it.
var errLocalHeader = errors.New("LOCAL")

// readProxyHeader reads the PROXY header c must start with, within timeout, with
// go-proxyproto's parser. It returns the client's connection, or errLocalHeader for a LOCAL
// header (and a v1 UNKNOWN one, which names no client either).
func readProxyHeader(c net.Conn, timeout time.Duration) (*proxiedConn, error) {
	br := bufio.NewReaderSize(c, proxyHeaderBuf)
	h, err := proxyproto.ReadHeaderTimeout(c, br, timeout)
	if err != nil {
		return nil, err
	}
	if h.Command.IsLocal() {
		return nil, errLocalHeader
	}
	src, dst, ok := h.TCPAddrs()
	if !ok {
		return nil, fmt.Errorf("the header names no TCP client (family %#x)", byte(h.TransportProtocol))
	}
	pc := &proxiedConn{Conn: c, client: src, dest: dst}
	if n := br.Buffered(); n > 0 {
		rest, _ := br.Peek(n)
		pc.buf = append([]byte(nil), rest...)
	}
	return pc, nil
}

// admitProxied starts reading the PROXY header of c, accepted on a PROXY listener, on a
// goroutine of its own (the accept loop does not wait for it); a peer that is not trusted is
// refused at once. While its header is read, c counts as a session for MaxConns. stats
// counts the session or refusal for l.
func (s *Server) admitProxied(c net.Conn, l Listener, stats *metrics.Listener) {
	if !l.ProxyProtocol.trusts(c.RemoteAddr()) {
		stats.Refused()
		s.stats.Refused(metrics.RefusalProxyProtocol)
		s.refuse(c, l.TLS, replyUntrustedProxy,
			fmt.Sprintf("proxy: %s is not a trusted proxy of the PROXY listener %s: client refused", c.RemoteAddr(), l.Addr()))
		return
	}
	if s.active.Add(1) > int64(s.maxConns()) {
		s.active.Add(-1)
		stats.Refused()
		s.stats.Refused(metrics.RefusalMaxConns)
		s.refuse(c, l.TLS, replyTooMany, fmt.Sprintf("proxy: too many connections (%d): client refused", s.maxConns()))
		return
	}
	s.sessions.Add(1)
	go s.runProxied(c, l.TLS, stats)
}

// runProxied reads the PROXY header of c and, unless it refuses c, runs its session on this
// goroutine; see proxiedSession.
func (s *Server) runProxied(c net.Conn, isTLS bool, stats *metrics.Listener) {
	if sess := s.proxiedSession(c, isTLS, stats); sess != nil {
		sess.run()
	}
}

// proxiedSession reads the PROXY header of c and returns the session of the client it names,
// counted for its address group; it returns nil when it refused c: a missing, bad or LOCAL
// header (c closed), or the client's address group at its cap (refused with a line, as a
// direct client is). Shutdown cuts the header read short.
func (s *Server) proxiedSession(c net.Conn, isTLS bool, stats *metrics.Listener) (sess *session) {
	handed := false // c went to a refusal, which closes it
	defer func() {
		if sess == nil {
			if !handed {
				c.Close()
			}
			s.active.Add(-1)
			s.sessions.Done()
		}
	}()
	defer s.recoverPanic("PROXY header")
	stop := context.AfterFunc(s.base, func() { c.Close() })
	pc, err := readProxyHeader(c, min(orDuration(s.cfg.HandshakeTimeout, DefaultHandshakeTimeout), proxyHeaderTimeout))
	if !stop() {
		return nil // Shutdown
	}
	switch {
	case errors.Is(err, errLocalHeader):
		return nil // a health check: nothing to log
	case err != nil:
		why := "bad PROXY header from " + c.RemoteAddr().String() + ": " + err.Error()
		if errors.Is(err, proxyproto.ErrNoProxyProtocol) {
			why = "no PROXY header from " + c.RemoteAddr().String() + " (the proxy must send one with every connection)"
		}
		stats.Refused()
		s.stats.Refused(metrics.RefusalProxyProtocol)
		s.emit(logview.Event{Kind: logview.KindError, Via: c.RemoteAddr().String(), Listener: listenerName(isTLS),
			Err: oneLine("proxy: "+why+": connection refused", 300)})
		return nil
	}
	peer := addrKey(pc.client)
	if !s.perAddr.take(peer, s.maxConnsPerIP()) {
		handed = true
		stats.Refused()
		s.stats.Refused(metrics.RefusalMaxConnsPerIP)
		s.refuse(pc, isTLS, replyTooManyFromAddr,
			fmt.Sprintf("proxy: too many connections from %s (%d): client refused", keyName(peer), s.maxConnsPerIP()))
		return nil
	}
	sess = newSession(s, pc, isTLS, s.idPrefix+strconv.FormatUint(s.nextID.Add(1), 10))
	sess.peer = peer
	sess.stats = stats
	stats.Open()
	return sess
}
