package proxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/logview"
	"github.com/popwire/popwire/popclient"
)

// Server read buffer sizes: a session starts with the small one and switches once, for good,
// to the big one when a read fills it (a body is flowing). Idle sessions stay small.
const (
	smallServerBuf = 1 << 10
	bigServerBuf   = 32 << 10
)

// session is one client and its upstream. Two goroutines run it: pumpUp (client→server, on
// the goroutine of run) and pumpDown (server→client).
type session struct {
	srv     *Server
	id      string
	rec     *recorder
	ctx     context.Context
	finishC context.CancelCauseFunc
	start   time.Time
	last    atomic.Int64 // time of the last client line or server byte, as time.Since(start)
	idle    *time.Timer
	login   *time.Timer
	authed  atomic.Bool  // the tracker reached TRANSACTION (see noteLogin)
	peer    netip.Prefix // the client's address group (see addrKey)

	raw      net.Conn // the client's TCP connection
	listener string

	legsMu sync.Mutex
	upRaw  net.Conn // the upstream's TCP connection; nil until dialed
	closed bool
	reason string
	linger bool // the upstream's stream is over: the client leg closes gracefully (lingerClient)

	upLost    atomic.Bool  // a write to the upstream failed: pumpDown drains it (loseUpstream)
	unsent    atomic.Int64 // client bytes dropped since then
	clientEOF bool         // the client's stream ended cleanly (pumpUp's goroutine only)

	upConn net.Conn   // upstream leg for reads (pumpDown) and writes (under upMu)
	upMu   sync.Mutex // orders writes to the upstream

	// mu guards everything below: the tracker, client writes, and the local-answer queue.
	mu        sync.Mutex
	cond      *sync.Cond // signalled when paused or stls change, and on close
	client    net.Conn   // client leg for writes (and reads by pumpUp); a *tls.Conn once secured
	clientTLS bool
	clientSec string
	t         codec.Tracker
	greeted   bool
	cmds      int           // commands the tracker has framed since the last framing restart
	done      int           // replies completed since then (upstream or local)
	localq    []localAnswer // local answers waiting for their turn, in order
	held      [][]byte      // client lines held while AUTH is outstanding (codec.FrameHeld)
	eofHeld   bool          // the client's stream ended while lines were held: pumpDown passes it on
	fwd       [][]byte      // held lines released for forwarding by the current server piece
	paused    bool          // client writes wait: the client leg is switching to TLS
	stls      stlsState
	longLine  bool // a client line over maxClientLine is being passed on
	upWait    bool // pumpUp waits for the server to catch up (waitRoom)
	// passThrough: framing stopped with no policy depending on it; lines go on unframed.
	passThrough bool
	capa        capaRewrite
	// upLocked: pumpUp holds mu (see lockUp), so that its panic handler can release it.
	upLocked bool

	bytesUp   atomic.Int64
	bytesDown atomic.Int64
}

func newSession(srv *Server, c net.Conn, isTLS bool, id string) *session {
	s := &session{
		srv:      srv,
		id:       id,
		rec:      newRecorder(srv.cfg.Sink, id, srv.cfg.Log),
		start:    time.Now(),
		raw:      c,
		client:   c,
		listener: listenerName(isTLS),
	}
	s.t.BodyData = srv.cfg.Sink != nil && srv.cfg.Log.Bodies != BodiesNone // the recorder audits RETR/TOP content
	s.cond = sync.NewCond(&s.mu)
	s.ctx, s.finishC = context.WithCancelCause(srv.base)
	s.clientSec = "plaintext"
	if isTLS {
		s.clientSec = "tls"
	}
	return s
}

// run serves the session to its end and emits the close summary. A panic on any of the
// session's goroutines ends this session alone (see recoverPanic).
func (s *session) run() {
	defer s.srv.sessions.Done()
	defer s.srv.leave(s.peer)
	defer s.recoverPanic("session close")
	defer s.end()
	defer s.recoverPanic("session")
	stop := context.AfterFunc(s.ctx, s.closeLegs)
	defer stop()
	s.idle = time.AfterFunc(orDuration(s.srv.cfg.IdleTimeout, DefaultIdleTimeout), s.checkIdle)
	defer s.idle.Stop()
	s.login = time.AfterFunc(s.loginTimeout(), s.checkLogin)
	defer s.login.Stop()

	if s.listener == "tls" && !onFreshStack(func() bool { return s.handshakeClient("tls") }) {
		return
	}
	s.rec.event(logview.Event{Kind: logview.KindOpen, Client: s.raw.RemoteAddr().String(), Local: s.raw.LocalAddr().String(), Listener: s.listener,
		ClientSec: s.clientSec, Upstream: s.srv.dialer.Addr, UpstreamSec: upstreamSecurity(s.srv.cfg.UpstreamMode)})
	if s.srv.cfg.InsecureSkipVerify {
		s.rec.event(logview.Event{Kind: logview.KindWarning, Leg: "upstream", Text: "upstream certificate verification is off (--insecure-skip-verify)"})
	}
	s.warnKeyLog()
	if !onFreshStack(s.dialUpstream) {
		return
	}
	done := make(chan struct{})
	go s.pumpDown(done)
	s.upPump()
	<-done
}

// upPump runs pumpUp on run's goroutine. When it panics, the session lock pumpUp held is
// released (a held lock would stall pumpDown for good), and run goes on to close the session.
func (s *session) upPump() {
	defer s.recoverPanic("client pump")
	defer s.releaseUpLock()
	s.pumpUp()
}

// lockUp takes mu for pumpUp, marking it taken for releaseUpLock.
func (s *session) lockUp() {
	s.mu.Lock()
	s.upLocked = true
}

// unlockUp releases mu taken with lockUp.
func (s *session) unlockUp() {
	s.upLocked = false
	s.mu.Unlock()
}

// releaseUpLock releases mu if pumpUp panicked while holding it; only pumpUp's goroutine
// calls it.
func (s *session) releaseUpLock() {
	if s.upLocked {
		s.unlockUp()
	}
}

// onFreshStack runs f on a goroutine of its own and returns its result. A TLS handshake
// (certificate verification, post-quantum key exchange) grows a goroutine's stack to tens of
// KiB, and Go shrinks a stack only gradually, at garbage collections; running handshakes on a
// short-lived goroutine keeps the session's long-lived goroutines small, which is most of the
// memory of an idle session.
func onFreshStack(f func() bool) bool {
	ok := make(chan bool)
	go func() { ok <- f() }()
	return <-ok
}

// end closes both legs, the client's gracefully once the upstream's stream is over, and
// emits the close summary; run defers it.
func (s *session) end() {
	s.finish("closed")
	s.closeLegs()
	s.legsMu.Lock()
	reason, linger := s.reason, s.linger
	s.legsMu.Unlock()
	if linger && !s.clientEOF {
		s.lingerClient()
	}
	s.raw.Close()
	s.unsentEvent()
	s.rec.closeSummary(reason, s.bytesUp.Load(), s.bytesDown.Load())
}

// finish records why the session ends (the first reason wins) and cancels it, which closes
// both legs without sending anything (never QUIT on the client's behalf, RFC 1939 §6).
func (s *session) finish(reason string) {
	s.legsMu.Lock()
	if s.reason == "" {
		s.reason = reason
	}
	s.legsMu.Unlock()
	s.finishC(errors.New(reason))
}

// setReason records reason unless one is set, without ending the session.
func (s *session) setReason(reason string) {
	s.legsMu.Lock()
	if s.reason == "" {
		s.reason = reason
	}
	s.legsMu.Unlock()
}

// closeLegs closes both TCP connections and wakes every waiter; it runs once the session's
// context is done. A Shutdown that cancels the server's context is recorded as the reason.
// When the client leg is to close gracefully, it stays open for end, its I/O stopped.
func (s *session) closeLegs() {
	defer s.recoverPanic("closing")
	s.legsMu.Lock()
	if s.closed {
		s.legsMu.Unlock()
		return
	}
	defer s.wakeAll()
	defer s.legsMu.Unlock()
	if errors.Is(context.Cause(s.ctx), errShutdown) && s.reason == "" {
		s.reason = "shutdown"
	}
	s.closed = true
	if s.linger {
		s.stopClientReads()
		s.raw.SetWriteDeadline(time.Now().Add(lingerTimeout))
	} else {
		s.raw.Close()
	}
	if s.upRaw != nil {
		s.upRaw.Close()
	}
}

// wakeAll wakes every goroutine waiting on s.cond.
func (s *session) wakeAll() {
	s.mu.Lock()
	s.cond.Broadcast()
	s.mu.Unlock()
}

// ours reports whether the session is closing, so that I/O errors are our own doing.
func (s *session) ours() bool { return s.ctx.Err() != nil }

// touch records activity for the idle timer: a complete client line, or server bytes.
func (s *session) touch() { s.last.Store(int64(time.Since(s.start))) }

// checkIdle ends the session when neither direction moved for the idle timeout, else re-arms.
func (s *session) checkIdle() {
	defer s.recoverPanic("idle timer")
	idle := orDuration(s.srv.cfg.IdleTimeout, DefaultIdleTimeout)
	quiet := time.Since(s.start) - time.Duration(s.last.Load())
	if quiet >= idle {
		s.rec.event(logview.Event{Kind: logview.KindError, Err: "proxy: idle timeout " + idle.String()})
		s.finish("idle timeout")
		return
	}
	s.idle.Reset(idle - quiet)
}

func (s *session) loginTimeout() time.Duration {
	return orDuration(s.srv.cfg.LoginTimeout, DefaultLoginTimeout)
}

// noteLogin records that the client logged in once the tracker reaches TRANSACTION; serverBytes
// calls it. s.mu is held.
func (s *session) noteLogin() {
	if s.t.State() != codec.Authorization {
		s.authed.Store(true)
	}
}

// checkLogin ends the session when the client has not logged in within the login timeout of
// connecting, without QUIT. The client is told with one -ERR line when that line cannot land
// inside a server line nor read as the reply to a command: the session is idle between
// replies and its lock is free (a goroutine holding it may be stuck writing to this client).
func (s *session) checkLogin() {
	defer s.recoverPanic("login timer")
	if s.authed.Load() || s.ours() {
		return
	}
	if !s.mu.TryLock() {
		s.loginExpired()
		return
	}
	defer s.mu.Unlock()
	if s.t.State() != codec.Authorization {
		return
	}
	if s.greeted && !s.paused && s.stls == stlsNone && !s.passThrough && len(s.localq) == 0 && len(s.held) == 0 &&
		s.t.Pending() == 0 && !s.t.ServerMidLine() {
		s.raw.SetWriteDeadline(time.Now().Add(time.Second))
		s.writeClient([]byte("-ERR popwire: no login within " + s.loginTimeout().String() + "; closing\r\n"))
	}
	s.loginExpired() // still under s.mu: no server byte follows the -ERR line
}

// loginExpired logs the login timeout and ends the session.
func (s *session) loginExpired() {
	s.rec.event(logview.Event{Kind: logview.KindError, Leg: "client",
		Err: "proxy: login timeout " + s.loginTimeout().String() + ": the client did not log in; session closed"})
	s.finish("login timeout")
}

// handshakeClient runs the client-leg TLS handshake (implicit TLS or after STLS) and logs it.
// It runs on a goroutine of its own (onFreshStack); a panic makes it report false.
func (s *session) handshakeClient(sec string) (ok bool) {
	defer s.recoverPanic("client handshake")
	tc := tls.Server(s.raw, s.srv.clientTLS)
	ctx, cancel := context.WithTimeout(s.ctx, orDuration(s.srv.cfg.HandshakeTimeout, DefaultHandshakeTimeout))
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		if !s.ours() {
			s.rec.event(logview.Event{Kind: logview.KindError, Leg: "client", Client: s.raw.RemoteAddr().String(),
				Listener: s.listener, Err: oneLine("proxy: client TLS handshake failed: "+err.Error(), 300)})
			s.finish("client handshake failed")
		}
		return false
	}
	st := tc.ConnectionState()
	s.mu.Lock()
	s.client, s.clientTLS, s.clientSec = tc, true, sec
	s.paused = false
	s.cond.Broadcast()
	s.mu.Unlock()
	s.rec.event(logview.Event{Kind: logview.KindTLS, Leg: "client", ClientSec: sec, TLS: tlsInfo(&st, false)})
	return true
}

// dialUpstream opens the upstream leg; on failure the client gets one -ERR [SYS/TEMP] line.
// It runs on a goroutine of its own (onFreshStack); a panic makes it report false.
func (s *session) dialUpstream() (ok bool) {
	defer s.recoverPanic("upstream dial")
	up, err := s.srv.dialer.Dial(s.ctx)
	if err != nil {
		if s.ours() {
			return false
		}
		var de *popclient.DialError
		e := logview.Event{Kind: logview.KindError, Leg: "upstream", Upstream: s.srv.dialer.Addr, Err: oneLine(err.Error(), 500)}
		if errors.As(err, &de) {
			e.Extra, _ = json.Marshal(struct {
				Step  popclient.Step `json:"step"`
				Names []string       `json:"names,omitempty"`
			}{de.Step, de.Names})
		}
		s.rec.event(e)
		s.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
		s.client.Write(errReply(err))
		s.finish("upstream dial failed")
		return false
	}
	s.legsMu.Lock()
	s.upRaw = up.Raw
	closed := s.closed
	s.legsMu.Unlock()
	if closed {
		up.Raw.Close()
		return false
	}
	s.upConn = up.Conn
	s.connected(up)
	if up.TLS != nil {
		info := tlsInfo(up.TLS, !s.srv.cfg.InsecureSkipVerify)
		if s.srv.cfg.InsecureSkipVerify {
			info.VerifyErr = skippedVerification(s.srv.dialer.VerifyAnyway(up.TLS.PeerCertificates))
		}
		s.rec.event(logview.Event{Kind: logview.KindTLS, Leg: "upstream", UpstreamSec: upstreamSecurity(s.srv.cfg.UpstreamMode), TLS: info})
	}
	if len(up.Greeting) > 0 {
		s.touch()
		if err := s.serverBytes(up.Greeting); err != nil {
			s.finish("client write failed")
			return false
		}
	}
	return true
}
