package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/testpki"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testPKI is a CA and a leaf for 127.0.0.1, ::1 and localhost, made for one test run.
type testPKI struct {
	pool *x509.CertPool
	leaf tls.Certificate
}

var (
	pkiOnce           sync.Once
	pkiGood, pkiOther testPKI
)

func pkis(t testing.TB) (testPKI, testPKI) {
	pkiOnce.Do(func() { pkiGood, pkiOther = newPKI(t), newPKI(t) })
	return pkiGood, pkiOther
}

func newPKI(t testing.TB) testPKI {
	ca, err := testpki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("localhost", "localhost", "127.0.0.1", "::1")
	if err != nil {
		t.Fatal(err)
	}
	return testPKI{pool: ca.Pool(), leaf: leaf}
}

// recSink collects events and passes them on to next, if set. With panicOn set, Emit panics
// (once) with errSinkPanic after collecting the first event it matches: a broken sink, to
// test that a panic ends one session.
type recSink struct {
	mu      sync.Mutex
	ev      []logview.Event
	next    logview.Sink
	panicOn func(logview.Event) bool
}

// errSinkPanic is what a recSink panics with; it must reach no output.
var errSinkPanic = errors.New("sink failed on token-7f3a9c")

func (r *recSink) Emit(e logview.Event) error {
	r.mu.Lock()
	if e.Message != nil {
		e.Message.Content.Retain() // a holder, as an output's queue is, until dropEvents
	}
	r.ev = append(r.ev, e)
	explode := r.panicOn != nil && r.panicOn(e)
	if explode {
		r.panicOn = nil
	}
	r.mu.Unlock()
	if explode {
		panic(errSinkPanic)
	}
	if r.next != nil {
		return r.next.Emit(e)
	}
	return nil
}

// setPanic makes the sink panic on the next event that on matches.
func (r *recSink) setPanic(on func(logview.Event) bool) {
	r.mu.Lock()
	r.panicOn = on
	r.mu.Unlock()
}

// find waits up to 5 s for an event matching ok.
func (r *recSink) find(t *testing.T, what string, ok func(logview.Event) bool) logview.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, e := range r.ev {
			if ok(e) {
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s event; got %+v", what, r.ev)
	return logview.Event{}
}

// closeReason waits for the close event of a session that ended for reason.
func (p *testProxy) closeReason(t *testing.T, reason string) {
	t.Helper()
	p.sink.find(t, "close "+reason, func(e logview.Event) bool {
		return e.Kind == logview.KindClose && e.Summary != nil && e.Summary.Reason == reason
	})
}

// upstreamConn is one connection the fake upstream accepted: everything it received.
type upstreamConn struct {
	net.Conn
	r    *bufio.Reader
	got  strings.Builder
	mu   sync.Mutex
	done chan struct{} // closed when the script returned
}

// all waits for the script to return and returns everything it received.
func (u *upstreamConn) all(t *testing.T) string {
	t.Helper()
	select {
	case <-u.done:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream script did not finish")
	}
	return u.received()
}

// line reads one client line and records it.
func (u *upstreamConn) line() (string, error) {
	l, err := u.r.ReadString('\n')
	u.mu.Lock()
	u.got.WriteString(l)
	u.mu.Unlock()
	return l, err
}

func (u *upstreamConn) received() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got.String()
}

// fakeUpstream serves script on every connection, over TLS with the good PKI unless plain.
type fakeUpstream struct {
	ln    net.Listener
	wg    sync.WaitGroup
	conns chan *upstreamConn
}

func newUpstream(t testing.TB, plain bool, script func(*upstreamConn)) *fakeUpstream {
	t.Helper()
	good, _ := pkis(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !plain {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{good.leaf}})
	}
	u := &fakeUpstream{ln: ln, conns: make(chan *upstreamConn, 16)}
	u.wg.Add(1)
	go u.serve(script)
	t.Cleanup(func() { ln.Close(); u.wg.Wait() })
	return u
}

func (u *fakeUpstream) serve(script func(*upstreamConn)) {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		uc := &upstreamConn{Conn: c, r: bufio.NewReader(c), done: make(chan struct{})}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		u.conns <- uc
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			defer close(uc.done)
			defer c.Close()
			script(uc)
		}()
	}
}

func (u *fakeUpstream) addr() string { return u.ln.Addr().String() }

// next returns the next accepted upstream connection.
func (u *fakeUpstream) next(t *testing.T) *upstreamConn {
	t.Helper()
	select {
	case c := <-u.conns:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("upstream: no connection")
		return nil
	}
}

// testProxy runs a Server with a plaintext and a TLS listener on loopback.
type testProxy struct {
	srv         *Server
	plain, tlsl string
	sink        *recSink
	done        chan error
}

func startProxy(t testing.TB, cfg Config, upstreamAddr string) *testProxy {
	t.Helper()
	good, _ := pkis(t)
	if cfg.Certificate == nil {
		cfg.Certificate = &good.leaf
	}
	return startProxyCert(t, cfg, upstreamAddr)
}

// startProxyCert is startProxy keeping cfg.Certificate as it is; without one, only the
// plaintext listener serves. Events go to the testProxy's sink, then to cfg.Sink if set.
func startProxyCert(t testing.TB, cfg Config, upstreamAddr string) *testProxy {
	t.Helper()
	good, _ := pkis(t)
	if cfg.Upstream == "" {
		cfg.Upstream = upstreamAddr
	}
	if cfg.UpstreamRoots == nil {
		cfg.UpstreamRoots = good.pool
	}
	sink := &recSink{next: cfg.Sink}
	cfg.Sink = sink
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testProxy{srv: srv, plain: pl.Addr().String(), tlsl: tl.Addr().String(), sink: sink, done: make(chan error, 1)}
	ls := []Listener{{Listener: pl, ProxyProtocol: cfg.ProxyProtocol}, {Listener: tl, TLS: true, ProxyProtocol: cfg.ProxyProtocol}}
	if cfg.Certificate == nil {
		tl.Close()
		ls = ls[:1]
	}
	go func() { p.done <- srv.Serve(ls...) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-p.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return p
}

// dial connects a client to the plaintext (or TLS) listener.
func (p *testProxy) dial(t *testing.T, useTLS bool) *clientConn {
	t.Helper()
	return p.dialFrom(t, "127.0.0.1", useTLS)
}

// dialFrom is dial from the loopback address from (127.0.0.2 is loopback on Linux too).
func (p *testProxy) dialFrom(t *testing.T, from string, useTLS bool) *clientConn {
	t.Helper()
	good, _ := pkis(t)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.DialWithDialer(d, "tcp", p.tlsl, &tls.Config{RootCAs: good.pool, ServerName: "localhost"})
	} else {
		c, err = d.Dial("tcp", p.plain)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &clientConn{Conn: c, r: bufio.NewReader(c)}
}

type clientConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *clientConn) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

func (c *clientConn) line(t *testing.T) string {
	t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("client read: %v (got %q)", err, l)
	}
	return l
}

// rest reads until EOF.
func (c *clientConn) rest(t *testing.T) string {
	t.Helper()
	b, err := io.ReadAll(c.r)
	if err != nil && !isReset(err) {
		t.Fatalf("client read: %v", err)
	}
	return string(b)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// write sends s from the upstream.
func (u *upstreamConn) write(s string) { io.WriteString(u.Conn, s) }

// dialRaw opens a plain TCP connection to the TLS listener.
func (p *testProxy) dialRaw(t *testing.T) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", p.tlsl)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// expiredContext returns a context that is already done.
func expiredContext(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}
