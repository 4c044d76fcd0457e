package proxy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/metrics"
	"github.com/popwire/popwire/internal/popclient"
)

// errShutdown is the cause of a session closed by Shutdown.
var errShutdown = errors.New("shutdown")

// Server accepts POP3 clients and proxies each to the upstream. Create it with New.
type Server struct {
	cfg       Config
	dialer    popclient.Dialer
	clientTLS *tls.Config // nil without a certificate: no STLS, no TLS listener
	deny      map[string]bool
	idPrefix  string
	nextID    atomic.Uint64
	active    atomic.Int64
	perAddr   addrCounts // sessions per client address group
	refusals  refusals
	stats     *metrics.Route // nil without Config.Metrics

	base       context.Context
	cancelBase context.CancelCauseFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	accepting sync.WaitGroup // accept loops
	sessions  sync.WaitGroup // sessions and refusals
}

// New checks cfg and returns a Server. UpstreamPlaintext needs InsecureUpstreamPlaintext.
func New(cfg Config) (*Server, error) {
	if cfg.UpstreamMode == popclient.UpstreamPlaintext && !cfg.InsecureUpstreamPlaintext {
		return nil, errors.New("proxy: a plaintext upstream must be allowed explicitly (InsecureUpstreamPlaintext)")
	}
	if cfg.UpstreamMode > popclient.UpstreamPlaintext {
		return nil, fmt.Errorf("proxy: unknown upstream mode %d", cfg.UpstreamMode)
	}
	if _, _, err := net.SplitHostPort(cfg.upstream()); err != nil {
		return nil, fmt.Errorf("proxy: upstream address: %w", err)
	}
	if err := cfg.ProxyProtocol.check(); err != nil {
		return nil, err
	}
	deny, err := ParseDeny(cfg.Deny)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg,
		dialer: popclient.Dialer{
			Addr:               cfg.upstream(),
			Mode:               cfg.UpstreamMode,
			ServerName:         cfg.UpstreamName,
			RootCAs:            cfg.UpstreamRoots,
			InsecureSkipVerify: cfg.InsecureSkipVerify,
			Timeout:            cfg.DialTimeout,
			ReadGreeting:       true,
			Sessions:           tls.NewLRUClientSessionCache(0),
			KeyLogWriter:       cfg.KeyLog,
		},
		deny:      make(map[string]bool),
		listeners: make(map[net.Listener]struct{}),
		stats:     cfg.Metrics.Route(cfg.Route),
	}
	s.refusals.free.L = &s.refusals.mu
	s.dialer.Config = s.dialer.TLSConfig()
	s.cfg.Log = cfg.Log.withBudget()
	for _, v := range deny {
		s.deny[v] = true
	}
	if cfg.Certificate != nil {
		s.clientTLS = clientTLSConfig(cfg.Certificate, cfg.LegacyTLS)
		s.clientTLS.KeyLogWriter = cfg.KeyLog
	}
	var tag [3]byte
	rand.Read(tag[:])
	s.idPrefix = hex.EncodeToString(tag[:]) + "-"
	s.base, s.cancelBase = context.WithCancelCause(context.Background())
	return s, nil
}

// ListenAndServe listens on Config.Listen and Config.ListenTLS and serves until Shutdown,
// then returns ErrServerClosed.
func (s *Server) ListenAndServe() error {
	ls, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ls...)
}

// Serve accepts clients on every listener until Shutdown, then returns ErrServerClosed. It
// refuses a plaintext listener on a non-loopback address unless AllowRemotePlaintext, and a
// TLS listener without a certificate; it closes the listeners when it returns.
func (s *Server) Serve(ls ...Listener) error {
	for _, l := range ls {
		if err := s.checkListener(l); err != nil {
			for _, l := range ls {
				l.Close()
			}
			return err
		}
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		for _, l := range ls {
			l.Close()
		}
		return ErrServerClosed
	}
	for _, l := range ls {
		s.listeners[l.Listener] = struct{}{}
		s.accepting.Add(1)
		go s.acceptLoop(l)
	}
	s.mu.Unlock()
	s.accepting.Wait()
	return ErrServerClosed
}

// acceptLoop accepts clients on l until it is closed.
func (s *Server) acceptLoop(l Listener) {
	defer s.accepting.Done()
	stats := s.stats.Listener(listenerName(l.TLS))
	backoff := 5 * time.Millisecond
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing || errors.Is(err, net.ErrClosed) {
				return
			}
			s.emit(logview.Event{Kind: logview.KindError, Listener: listenerName(l.TLS), Err: oneLine("proxy: accept: "+err.Error(), 300)})
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		s.admit(c, l, stats)
	}
}

// The lines a refused client gets (RFC 3206 SYS/TEMP: trying again later may work).
var (
	replyTooMany         = []byte("-ERR [SYS/TEMP] too many connections\r\n")
	replyTooManyFromAddr = []byte("-ERR [SYS/TEMP] too many connections from your address\r\n")
)

// admit starts a session for c, or refuses c when its address group or the server is at
// its cap; stats counts the session or refusal for c's listener. On a PROXY listener the
// header names the client (admitProxied).
func (s *Server) admit(c net.Conn, l Listener, stats *metrics.Listener) {
	if l.ProxyProtocol != nil {
		s.admitProxied(c, l, stats)
		return
	}
	isTLS := l.TLS
	peer := addrKey(c.RemoteAddr())
	if !s.perAddr.take(peer, s.maxConnsPerIP()) {
		stats.Refused()
		s.stats.Refused(metrics.RefusalMaxConnsPerIP)
		s.refuse(c, isTLS, replyTooManyFromAddr,
			fmt.Sprintf("proxy: too many connections from %s (%d): client refused", keyName(peer), s.maxConnsPerIP()))
		return
	}
	if s.active.Add(1) > int64(s.maxConns()) {
		s.active.Add(-1)
		s.perAddr.drop(peer)
		stats.Refused()
		s.stats.Refused(metrics.RefusalMaxConns)
		s.refuse(c, isTLS, replyTooMany, fmt.Sprintf("proxy: too many connections (%d): client refused", s.maxConns()))
		return
	}
	s.sessions.Add(1)
	sess := newSession(s, c, isTLS, s.idPrefix+strconv.FormatUint(s.nextID.Add(1), 10))
	sess.peer = peer
	sess.stats = stats
	stats.Open()
	go sess.run()
}

// leave counts a session of peer's address group as ended.
func (s *Server) leave(peer netip.Prefix) {
	s.perAddr.drop(peer)
	s.active.Add(-1)
}

func (s *Server) maxConns() int {
	if s.cfg.MaxConns <= 0 {
		return DefaultMaxConns
	}
	return s.cfg.MaxConns
}

func (s *Server) maxConnsPerIP() int {
	if s.cfg.MaxConnsPerIP <= 0 {
		return DefaultMaxConnsPerIP
	}
	return s.cfg.MaxConnsPerIP
}

// refuse starts the refusal of c with reply, logged as why; see refusals for how many run
// at once.
func (s *Server) refuse(c net.Conn, isTLS bool, reply []byte, why string) {
	ref := s.refusals.start(c, isTLS)
	s.sessions.Add(1)
	go s.runRefusal(ref, isTLS, reply, why)
}

// runRefusal answers a refused client with one -ERR line, after the TLS handshake on the
// TLS listener (bounded by refusalHandshakeTimeout), and closes it gracefully (linger), so
// that input the client pipelined does not turn the close into a reset that discards the
// line; Shutdown closes it at once.
func (s *Server) runRefusal(ref *refusal, isTLS bool, reply []byte, why string) {
	defer s.sessions.Done()
	defer s.refusals.finish(ref)
	defer ref.c.Close()
	defer s.recoverPanic("refusal")
	stop := context.AfterFunc(s.base, func() { ref.c.Close() })
	defer stop()
	s.emit(logview.Event{Kind: logview.KindError, Client: ref.c.RemoteAddr().String(), Via: via(ref.c), Listener: listenerName(isTLS), Err: why})
	ref.c.SetDeadline(time.Now().Add(min(orDuration(s.cfg.HandshakeTimeout, DefaultHandshakeTimeout), refusalHandshakeTimeout)))
	conn := ref.c
	if isTLS {
		tc := tls.Server(ref.c, s.clientTLS)
		err := tc.Handshake()
		if !s.refusals.handshakeDone(ref) || err != nil {
			return
		}
		conn = tc
	}
	if _, err := conn.Write(reply); err == nil && s.refusals.lingering(ref) {
		linger(ref.c, s.base)
	}
}

// Shutdown stops accepting, lets the sessions finish until ctx is done, then closes the
// remaining ones (never sending QUIT for a client) and waits for them. It returns ctx's
// error when it had to close sessions.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.accepting.Wait()
	done := make(chan struct{})
	go waitAll(&s.sessions, done)
	select {
	case <-done:
		s.cancelBase(errShutdown)
		return nil
	case <-ctx.Done():
	}
	s.cancelBase(errShutdown)
	<-done
	return ctx.Err()
}

// waitAll closes done when wg is done.
func waitAll(wg *sync.WaitGroup, done chan<- struct{}) {
	wg.Wait()
	close(done)
}

// emit sends a process-level event (no session).
func (s *Server) emit(e logview.Event) {
	if s.cfg.Sink == nil {
		return
	}
	s.cfg.Sink.Emit(logview.Stamp(e))
}

func listenerName(isTLS bool) string {
	if isTLS {
		return "tls"
	}
	return "plain"
}
