package popserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("popserver: server closed")

// DefaultIdleTimeout is the idle timeout used when Server.IdleTimeout is zero: RFC 1939 §3's
// minimum autologout timer, and Dovecot's default.
const DefaultIdleTimeout = 10 * time.Minute

// Server is an in-memory POP3 server. Configure it through its fields before the first Serve
// and do not change them afterwards; one Server may serve several listeners at once.
type Server struct {
	// Users maps each user name to its password; nil or empty means nobody can log in.
	Users map[string]string
	// Store holds the maildrops; nil means a private, empty store (users log in to empty
	// maildrops, still locked per RFC 1939 §8).
	Store *Store
	// Greeting is the text of the greeting after "+OK "; "" means "popwire-popserver ready.".
	// The APOP timestamp (RFC 1939 §7) is always appended.
	Greeting string
	// Hostname is the host part of APOP and CRAM-MD5 timestamps; "" means "localhost".
	Hostname string
	// TLSConfig, when set, makes STLS (RFC 2595 §4) available on plaintext connections. A
	// connection accepted as *tls.Conn (a tls.NewListener) is implicit TLS and never offers STLS.
	TLSConfig *tls.Config
	// IdleTimeout closes a session whose client sent nothing (or read nothing of a reply) for
	// this long, after "-ERR Disconnected for inactivity." and without UPDATE (RFC 1939 §3).
	// Zero or negative means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// CheckToken, when set, makes AUTH XOAUTH2 and AUTH OAUTHBEARER (RFC 7628) available: it
	// reports whether token is a valid bearer token for user. nil means neither mechanism is
	// offered. The token is a secret and never reaches Logf.
	CheckToken func(user, token string) bool
	// TokenScope is the scope named in the error challenge of a refused bearer token; ""
	// means "https://mail.google.com/".
	TokenScope string
	// RejectInitialXOAUTH2 answers AUTH XOAUTH2 with an initial response the way Microsoft's
	// servers do, "-ERR Protocol error. Connection is closed. 10", and closes the connection:
	// only the two-step form (AUTH XOAUTH2, "+ ", then the response) logs in.
	RejectInitialXOAUTH2 bool
	// Logf, when set, receives one line per notable event (session start and end, login
	// outcome by user name, discarded pre-TLS bytes). It never receives a secret. nil: silent.
	Logf func(format string, args ...any)

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{} // raw connections, closed by Close
	wg        sync.WaitGroup        // Serve loops and sessions
	fallback  Store                 // the store used when Store is nil
}

// Serve accepts connections on l and runs one session per connection until l fails or Close is
// called. It always returns a non-nil error: ErrServerClosed after Close, else the accept error.
// Serve closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			return fmt.Errorf("popserver: accept: %w", err)
		}
		raw := c
		if tc, ok := c.(*tls.Conn); ok {
			raw = tc.NetConn()
		}
		if !s.track(raw) {
			c.Close()
			return ErrServerClosed
		}
		go s.serveConn(c, raw)
	}
}

// Close stops every listener and session, then waits until all their goroutines have returned.
// Sessions cut short this way do not enter UPDATE. Close is idempotent and returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// isClosed reports whether Close has been called.
func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers a session's raw connection; it returns false once Close has been called.
// The caller's Serve loop holds a WaitGroup count, so adding here cannot race with Wait.
func (s *Server) track(raw net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[net.Conn]struct{})
	}
	s.conns[raw] = struct{}{}
	s.wg.Add(1)
	return true
}

// serveConn runs one session and forgets its connection afterwards.
func (s *Server) serveConn(c, raw net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
	}()
	newSession(s, c).run()
}

// store returns the configured store or the private fallback.
func (s *Server) store() *Store {
	if s.Store != nil {
		return s.Store
	}
	return &s.fallback
}

// idle returns the effective idle timeout.
func (s *Server) idle() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return DefaultIdleTimeout
}

// hostname returns the effective host name for timestamps.
func (s *Server) hostname() string {
	if s.Hostname != "" {
		return s.Hostname
	}
	return "localhost"
}

// logf forwards to Logf when it is set.
func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}
