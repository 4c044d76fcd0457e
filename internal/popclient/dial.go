package popclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// Defaults used when the matching field is zero.
const (
	DefaultUpstream    = "pop.gmail.com:995" // the server serve, probe and shell talk to by default
	DefaultDialTimeout = 15 * time.Second    // the bound on a whole Dial
)

// Dialer opens a connection to a POP3 server: the proxy's upstream leg, or the server that
// probe and shell talk to. Its steps (Resolve, Connect, Handshake) are exported so that a
// prober can run and time them one by one; Dial runs them all.
type Dialer struct {
	Addr               string         // upstream HOST:PORT
	Mode               UpstreamMode   // zero: implicit TLS
	ServerName         string         // SNI and verification name; "" means the host of Addr
	RootCAs            *x509.CertPool // nil: the system pool
	InsecureSkipVerify bool           // skip certificate verification (the caller warns)
	Timeout            time.Duration  // bound on the whole Dial; 0 means DefaultDialTimeout
	Resolver           *net.Resolver  // nil: net.DefaultResolver
	// ReadGreeting makes Dial wait for the server's greeting in the implicit-TLS and
	// plaintext modes too (STARTTLS mode always reads it), within Timeout: a server that
	// completes the handshake and says nothing is given up on.
	ReadGreeting bool
	// Sessions caches TLS sessions so that later dials resume them (a cheaper handshake with
	// the same verification); nil means every dial does a full handshake.
	Sessions tls.ClientSessionCache
	// KeyLogWriter receives the secrets of every handshake in the NSS key log format (see
	// tls.Config.KeyLogWriter); nil writes none.
	KeyLogWriter io.Writer
	// Config, when set, is the TLS configuration every handshake uses, shared so that an idle
	// session does not keep a copy of its own; nil means TLSConfig() is built per handshake.
	// Set it with d.Config = d.TLSConfig() once the other fields are final.
	Config *tls.Config
	// ProxyHeader, when not nil, is written to the TCP connection right after it connects,
	// before any POP3 or TLS byte: the PROXY protocol header by which a server that trusts
	// the dialer learns whom it dials for (Dovecot's haproxy_trusted_networks). Set it per
	// dial, on a copy of a shared Dialer.
	ProxyHeader *proxyproto.Header

	// control, when not nil, runs before each connection attempt of Connect (tests stand in
	// a black hole with it).
	control func(ctx context.Context, network, address string, c syscall.RawConn) error
}

// Upstream is an established upstream leg.
type Upstream struct {
	Conn net.Conn // the connection to speak POP3 on (a *tls.Conn unless plaintext)
	Raw  net.Conn // the TCP connection under Conn
	// Greeting is the greeting line, line ending included, in STARTTLS mode; with
	// ReadGreeting, the bytes read up to the end of the greeting line (any byte the same read
	// brought after it included) in the other modes; else nil.
	Greeting []byte
	TLS      *tls.ConnectionState // nil on a plaintext leg
	// ConnectTime is how long the TCP connect took (DNS excluded).
	ConnectTime time.Duration
	// TLSTime is how long the TLS handshake took; in STARTTLS mode, from the plaintext
	// greeting to the end of the handshake. 0 on a plaintext leg.
	TLSTime time.Duration
}

// maxDialLine bounds the greeting line startTLS reads, and each read of its STLS exchange
// (RFC 2449 §4 allows 512 bytes a line).
const maxDialLine = 4096

func (d *Dialer) hostPort() (string, string, error) {
	host, port, err := net.SplitHostPort(d.Addr)
	if err != nil {
		return "", "", &DialError{Step: StepDNS, Addr: d.Addr, Err: err}
	}
	return host, port, nil
}

// TLSConfig returns the client TLS configuration for the upstream leg: SNI and verification
// name, roots, minimum TLS 1.2.
func (d *Dialer) TLSConfig() *tls.Config {
	name := d.ServerName
	if name == "" {
		name, _, _ = net.SplitHostPort(d.Addr)
	}
	return &tls.Config{
		ServerName:         name,
		RootCAs:            d.RootCAs,
		InsecureSkipVerify: d.InsecureSkipVerify,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: d.Sessions,
		KeyLogWriter:       d.KeyLogWriter,
	}
}

// VerifyAnyway verifies a peer certificate chain the handshake did not check
// (InsecureSkipVerify) as it would have with verification on: the same roots and name. It
// returns nil when the chain would verify.
func (d *Dialer) VerifyAnyway(chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("popclient: the server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{DNSName: d.TLSConfig().ServerName, Roots: d.RootCAs, Intermediates: inter})
	return err
}

// Resolve returns the addresses of the upstream host; an IP literal is returned as is.
func (d *Dialer) Resolve(ctx context.Context) ([]string, error) {
	host, _, err := d.hostPort()
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip != nil {
		return []string{ip.String()}, nil
	}
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupHost(ctx, host)
	if err != nil {
		return nil, &DialError{Step: StepDNS, Addr: d.Addr, Err: err}
	}
	return addrs, nil
}

// Connect opens a TCP connection to the first of addrs that answers, trying them in order.
// When ctx has a deadline each attempt gets an equal share of the time left (see
// attemptTimeout), so that an address that drops packets cannot use up the time of the
// addresses after it.
func (d *Dialer) Connect(ctx context.Context, addrs []string) (net.Conn, error) {
	_, port, err := d.hostPort()
	if err != nil {
		return nil, err
	}
	nd := net.Dialer{ControlContext: d.control}
	last := errors.New("no addresses")
	for i, a := range addrs {
		actx, cancel := attemptContext(ctx, len(addrs)-i)
		c, err := nd.DialContext(actx, "tcp", net.JoinHostPort(a, port))
		cancel()
		if err == nil {
			return c, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, &DialError{Step: StepConnect, Addr: d.Addr, Err: last}
}

// attemptContext returns the context of one connection attempt out of left: when ctx has a
// deadline, it gets an equal share of the time left.
func attemptContext(ctx context.Context, left int) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, attemptTimeout(time.Until(deadline), left))
}

// attemptTimeout returns the time one connection attempt may take when left attempts (at
// least one) share the time remaining.
func attemptTimeout(remaining time.Duration, left int) time.Duration {
	return remaining / time.Duration(max(left, 1))
}

// startTLS reads the plaintext greeting, then has a Conn do the STLS exchange (RFC 2595 §4)
// and run Handshake on conn. Any byte the server sends after the greeting or after the +OK to
// STLS, before the handshake, aborts: it would be a response injected in plaintext. It
// returns the TLS connection and the greeting line as it came.
func (d *Dialer) startTLS(ctx context.Context, conn net.Conn) (*tls.Conn, []byte, error) {
	fail := func(err error) (*tls.Conn, []byte, error) {
		return nil, nil, &DialError{Step: StepSTLS, Addr: d.Addr, Err: err}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	greeting, err := readDialLine(conn)
	if err != nil {
		return fail(fmt.Errorf("reading greeting: %w", err))
	}
	c := newConn(conn, maxDialLine)
	c.received(greeting)
	if g, err := c.Read(ctx); err != nil || !g.OK() {
		return fail(fmt.Errorf("greeting is not +OK: %q", greeting[:min(len(greeting), 80)]))
	}
	if _, err := c.Send("STLS"); err != nil {
		return fail(err)
	}
	r, err := c.Read(ctx)
	if err != nil {
		return fail(fmt.Errorf("reading STLS reply: %w", err))
	}
	if r.Kind != PartTLS {
		return fail(fmt.Errorf("server refused STLS: %q", r.Line[:min(len(r.Line), 120)]))
	}
	var tc *tls.Conn
	err = c.Upgrade(func(nc net.Conn) (net.Conn, error) {
		var herr error
		tc, herr = d.Handshake(ctx, nc)
		if herr != nil {
			return nil, herr
		}
		return tc, nil
	})
	var de *DialError
	switch {
	case errors.As(err, &de): // the handshake's
		return nil, nil, de
	case err != nil: // bytes after the +OK (ErrInjection)
		return fail(fmt.Errorf("reading STLS reply: %w", err))
	}
	return tc, greeting, nil
}

// errInjection reports bytes that arrived where the server must stay silent.
var errInjection = errors.New("unexpected bytes after the line (response injection?)")

// readDialLine reads one line, reading no further than the first read that completes it;
// bytes after its LF are an error (errInjection).
func readDialLine(conn net.Conn) ([]byte, error) {
	buf, err := readToLF(conn)
	if err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(buf, '\n'); i+1 != len(buf) {
		return nil, errInjection
	}
	return buf, nil
}

// readToLF reads until the bytes read hold an LF, at most maxDialLine bytes, and returns
// them all, any bytes after the LF included.
func readToLF(conn net.Conn) ([]byte, error) {
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= maxDialLine {
				return nil, errors.New("line too long")
			}
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if bytes.IndexByte(buf, '\n') >= 0 {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readGreeting reads the server's greeting line (see Upstream.Greeting) before ctx is done.
func (d *Dialer) readGreeting(ctx context.Context, conn net.Conn) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	greeting, err := readToLF(conn)
	switch {
	case !stop() || ctx.Err() != nil:
		err = fmt.Errorf("no greeting within the dial timeout (%v): %w", d.timeout(), context.Cause(ctx))
	case err != nil:
		err = fmt.Errorf("reading the greeting: %w", err)
	default:
		return greeting, nil
	}
	return nil, &DialError{Step: StepGreeting, Addr: d.Addr, Err: err}
}

// Handshake runs the TLS client handshake on conn; a certificate that fails verification
// gives a DialError with StepVerify and the certificate's names and issuer.
func (d *Dialer) Handshake(ctx context.Context, conn net.Conn) (*tls.Conn, error) {
	cfg := d.Config
	if cfg == nil {
		cfg = d.TLSConfig()
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, verifyError(d.Addr, err)
	}
	return tc, nil
}

// Dial runs every step for d.Mode and returns the ready upstream leg. On failure the
// error is a *DialError naming the step and no connection stays open.
func (d *Dialer) Dial(ctx context.Context) (*Upstream, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	addrs, err := d.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	raw, err := d.Connect(ctx, addrs)
	if err != nil {
		return nil, err
	}
	up := &Upstream{Conn: raw, Raw: raw, ConnectTime: time.Since(start)}
	if err := d.writeProxyHeader(ctx, raw); err != nil {
		raw.Close()
		return nil, err
	}
	start = time.Now()
	var tc *tls.Conn
	switch d.Mode {
	case UpstreamSTARTTLS:
		tc, up.Greeting, err = d.startTLS(ctx, raw)
	case UpstreamPlaintext:
		// no TLS
	default:
		tc, err = d.Handshake(ctx, raw)
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	if tc != nil {
		up.TLSTime = time.Since(start)
		st := tc.ConnectionState()
		up.Conn, up.TLS = tc, &st
	}
	if d.ReadGreeting && d.Mode != UpstreamSTARTTLS {
		up.Greeting, err = d.readGreeting(ctx, up.Conn)
		if err != nil {
			raw.Close()
			return nil, err
		}
	}
	return up, nil
}

// writeProxyHeader writes d.ProxyHeader, if any, to conn before ctx is done.
func (d *Dialer) writeProxyHeader(ctx context.Context, conn net.Conn) error {
	if d.ProxyHeader == nil {
		return nil
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := d.ProxyHeader.WriteTo(conn); err != nil {
		return &DialError{Step: StepProxyHeader, Addr: d.Addr, Err: err}
	}
	return nil
}

// timeout returns the bound on a whole Dial.
func (d *Dialer) timeout() time.Duration {
	if d.Timeout <= 0 {
		return DefaultDialTimeout
	}
	return d.Timeout
}
