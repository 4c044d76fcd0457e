package proxy

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/metrics"
	"github.com/popwire/popwire/internal/popclient"
)

// Server read buffer sizes: a session starts with the small one and switches once, for good,
// to the big one when a read fills it (a body is flowing). Idle sessions stay small.
const (
	smallServerBuf = 1 << 10
	bigServerBuf   = 32 << 10
)

// session is one client and its upstream.
//
// Goroutines. run's goroutine runs the session: the client-leg handshake of the TLS
// listener, the dial, then pumpUp (client→server), then end. pumpDown (server→client) runs on
// a goroutine of its own once the upstream is dialed, until its stream ends. Each pump goes on
// on a fresh goroutine whenever its leg has been quiet for settleAfter (see freshStack), one
// after the other, so that a pump is always one goroutine; the session ends on pumpUp's last
// (wrapUp). Handshakes and the dial run on short-lived goroutines (onFreshStack) whose caller
// waits for them, so they act for it. Three callbacks run on goroutines of their own, at any time: closeLegs (once the
// session's context is done), checkIdle and checkLogin (the idle and login timers).
//
// Locks, in the order they are taken: a goroutine holding one takes only later ones.
//  1. mu, with cond: the tracker and everything that follows from framing (the fields
//     after mu), and every write to the client leg (writeClient queues, flushClient
//     writes before mu is released), but for the one -ERR
//     line of a failed dial, written before pumpDown starts, and the client-leg TLS
//     handshake, while writers wait (paused).
//  2. upMu: every write to the upstream leg (writeUpstream, closeWrite).
//  3. legsMu: how the legs close (upRaw, closed, reason, linger).
//  4. The recorder's lock, taken by every event logged, under any of the above.
//
// The other fields are atomic, or set before the goroutines that read them start; each
// field's comment says which.
//
// Network writes under a lock the other pump needs. The client leg is written under mu,
// which pumpUp takes too: the client must receive the bytes in the order the tracker sees
// them, since the tracker pairs each reply with its command, and a local answer slots in
// between server replies only by being written and fed to the tracker in one critical
// section. The client lines held during AUTH go upstream under mu as well (releaseHeld), so
// that no line framed after them overtakes them; pumpUp forwards its own lines holding upMu
// alone, taken before it lets go of mu for the same reason (clientLine). A write to the client
// has no deadline of its own and blocks while the client does not read: a client that stops
// reading during a RETR blocks pumpDown in flushClient, holding mu, and pumpUp then waits for
// mu with the next line it read. What ends that is the idle timer: a blocked pump reads
// nothing, the other records at most the one line or chunk it read before waiting for mu, so
// no activity is recorded and checkIdle finishes the session IdleTimeout later. A write to the
// upstream has the idle timeout as its deadline (upDeadline): a server that stops reading
// while it keeps sending keeps the session active, so the idle timer would never end it; the
// failed write loses the upstream instead (loseUpstream, TestUpstreamThatNeverReads). finish
// takes legsMu only; closeLegs takes mu only after closing the connections, which fails the
// blocked write (TestClientThatNeverReads). Shutdown ends such a session the same way, and
// checkLogin only tries mu. Once the upstream's stream is over, closeLegs bounds writes to the
// client with lingerTimeout instead of closing the leg.
type session struct {
	// Set before run starts; read-only after.
	srv    *Server
	id     string
	rec    *recorder // safe for concurrent use: it has its own lock
	ctx    context.Context
	cancel context.CancelCauseFunc // ends ctx; finish calls it, having recorded the reason
	start  time.Time
	peer   netip.Prefix      // the client's address group (see addrKey)
	stats  *metrics.Listener // counts the session's end; nil without metrics

	last atomic.Int64 // time of the last client line or server byte, as time.Since(start)
	// timerMu guards the idle and login pointers: armTimers sets them, checkIdle and
	// checkLogin re-arm the timers through them, stopTimers stops them.
	timerMu sync.Mutex
	idle    *time.Timer
	login   *time.Timer
	authed  atomic.Bool // the tracker reached TRANSACTION (see noteLogin)
	// loginTries counts checkLogin's tries to tell the client (loginRetry); only the login
	// timer's callback touches it, and its runs never overlap.
	loginTries int

	raw      net.Conn // the client's TCP connection, set before run; closeLegs and end close it
	listener string   // set before run

	legsMu sync.Mutex // guards upRaw, closed, reason and linger
	upRaw  net.Conn   // the upstream's TCP connection; nil until dialed
	closed bool       // closeLegs ran
	reason string     // why the session ends; the first one set wins
	linger bool       // the client has all it is to get: its leg closes gracefully (see finishDelivered)

	upLost    atomic.Bool  // a write to the upstream failed: pumpDown drains it (loseUpstream)
	unsent    atomic.Int64 // client bytes dropped since then
	bytesUp   atomic.Int64 // bytes written to the upstream
	bytesDown atomic.Int64 // bytes written to the client
	// clientEOF: the client's stream ended cleanly. Written by the pump that passes the EOF
	// on (pumpUp, or pumpDown for an EOF that waited for held lines, after pumpUp returned);
	// read by end, after both pumps returned.
	clientEOF bool

	upConn net.Conn   // the upstream leg, set by the dial before pumpDown starts: read by pumpDown, written under upMu
	upMu   sync.Mutex // held for every write to upConn, so that lines reach the upstream in the order they were framed

	mu sync.Mutex // guards every field below, and every write to client
	// cond, on mu, is signalled when paused or the STLS stage changes, when server bytes
	// make room for pumpUp (wakeUp), when framing or the upstream is given up, and on close.
	cond *sync.Cond
	// client, clientTLS, clientSec: the client leg (a *tls.Conn once secured). Written under
	// mu by handshakeClient, which run's goroutine waits for: that goroutine (pumpUp reads
	// client) uses them without mu.
	client    net.Conn
	clientTLS bool
	clientSec string
	t         codec.Tracker
	localq    []localAnswer // local answers waiting for their turn, in order
	// held: the client lines the tracker holds while AUTH is outstanding (codec.FrameHeld), as
	// sent. Not a mirror of the tracker's held lines: it keeps a capped copy without the line
	// ending, for logging; these are the bytes to forward once a line is classified.
	held    [][]byte
	eofHeld bool     // the client's stream ended while lines were held: pumpDown passes it on
	fwd     [][]byte // held lines released for forwarding by the current server piece
	paused  bool     // client writes wait: the client leg is switching to TLS
	// drainAt: when the drain deadline loseUpstream set passes (see drainDue).
	drainAt time.Time
	// stlsTurn: an STLS was framed and pumpUp has not yet acted on its answer (upgradeClient).
	// The tracker's STLS state says whether the answer came and accepted; this is pumpUp's
	// turn, which outlasts it: the tracker forgets a refused STLS once its -ERR is fed, but
	// what the client sent after the STLS must still be discarded unread (RFC 2595 §4).
	stlsTurn bool
	longLine bool // a client line over maxClientLine is being passed on
	// heldTail: the start of a client line that came without its end while lines were held,
	// owned by the session and shorter than maxClientLine. It goes upstream after them, never
	// ahead: whole with the rest of its line (clientLine), or at the client's EOF (clientEnded).
	heldTail []byte
	upWait   bool // pumpUp waits for the server to catch up (waitRoom)
	// passThrough: framing stopped with no policy depending on it; lines go on unframed.
	passThrough bool
	capa        capaRewrite
	// out and outRef: the bytes queued for the client leg (writeClient, copyClient) that
	// flushClient writes before mu is released; out is the session's own copy, outRef a
	// caller's buffer borrowed until then. At most one is set.
	out    []byte
	outRef []byte
	// upLocked: pumpUp holds mu (see lockUp), so that its panic handler can release it.
	// Only pumpUp's goroutine uses it.
	upLocked bool
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
	s.rec.stats = srv.stats
	s.t.BodyData = srv.cfg.Sink != nil && srv.cfg.Log.Bodies != BodiesNone // the recorder audits RETR/TOP content
	s.cond = sync.NewCond(&s.mu)
	s.ctx, s.cancel = context.WithCancelCause(srv.base)
	s.clientSec = "plaintext"
	if isTLS {
		s.clientSec = "tls"
	}
	return s
}

// run serves the session to its end and emits the close summary. A panic on any of the
// session's goroutines ends this session alone (see recoverPanic). Once the pumps run, run's
// goroutine goes on as the client pump's first (upPump), and the session ends on the last
// one of those (wrapUp).
func (s *session) run() {
	stop := context.AfterFunc(s.ctx, s.closeLegs)
	s.armTimers()
	lr := s.open()
	if lr == nil {
		s.wrapUp(stop)
		return
	}
	done := make(chan struct{})
	go s.pumpDown(done, make([]byte, smallServerBuf), false)
	s.upPump(lr, s.srv.cfg.OAuth == nil, false, done, stop)
}

// open runs what comes before the pumps: the client-leg handshake of the TLS listener, the
// open event, the dial and, with the OAuth bridge, the login. It returns the client's line
// reader, or nil when the session is to end (as after a panic).
func (s *session) open() (lr *lineReader) {
	defer s.recoverPanic("session")
	if s.listener == "tls" && !onFreshStack(func() bool { return s.handshakeClient("tls") }) {
		return nil
	}
	s.rec.event(logview.Event{Kind: logview.KindOpen, Client: s.raw.RemoteAddr().String(), Via: via(s.raw), Local: s.raw.LocalAddr().String(), Listener: s.listener,
		ClientSec: s.clientSec, Upstream: s.srv.dialer.Addr, UpstreamSec: upstreamSecurity(s.srv.cfg.UpstreamMode)})
	if s.srv.cfg.InsecureSkipVerify {
		s.rec.event(logview.Event{Kind: logview.KindWarning, Leg: logview.LegUpstream, Text: "upstream certificate verification is off (--insecure-skip-verify)"})
	}
	s.warnKeyLog()
	if !onFreshStack(s.dialUpstream) {
		return nil
	}
	lr = newLineReader(s.client, maxClientLine)
	if s.srv.cfg.OAuth != nil && !s.bridge(lr) {
		return nil
	}
	return lr
}

// upPump runs pumpUp (first: the client's next line is its first, see spokeTLS; fresh: see
// pumpUp). When the client leg went quiet, it goes on on a fresh goroutine (see freshStack);
// when pumpUp is over, the goroutine waits for pumpDown to close done and ends the session.
// When pumpUp panics, the session lock it held is released (a held lock would stall pumpDown
// for good), and the session closes.
func (s *session) upPump(lr *lineReader, first, fresh bool, done <-chan struct{}, stop func() bool) {
	if s.upBurst(lr, first, fresh) {
		go s.upPump(lr, false, true, done, stop)
		return
	}
	<-done
	s.wrapUp(stop)
}

// upBurst runs pumpUp, recovering a panic (and reporting false, the end of the session).
func (s *session) upBurst(lr *lineReader, first, fresh bool) bool {
	defer s.recoverPanic("client pump")
	defer s.releaseUpLock()
	return s.pumpUp(lr, first, fresh)
}

// wrapUp ends the session once its pumps are over (or never started): it stops the timers and
// the close on the context (stop), closes the legs and emits the close summary (end), counts
// the end and gives the session's slot back.
func (s *session) wrapUp(stop func() bool) {
	defer s.srv.sessions.Done()
	defer s.srv.leave(s.peer)
	defer s.countEnd()
	defer s.recoverPanic("session close")
	defer s.end()
	defer s.recoverPanic("session")
	defer stop()
	s.stopTimers()
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
	go runFresh(f, ok)
	return <-ok
}

// runFresh is the goroutine of onFreshStack: it sends f's result on ok.
func runFresh(f func() bool, ok chan<- bool) { ok <- f() }

// end closes both legs, the client's gracefully once it has all it is to get (see
// finishDelivered), and emits the close summary; run defers it.
func (s *session) end() {
	s.finish("closed")
	s.closeLegs()
	s.legsMu.Lock()
	reason, graceful := s.reason, s.linger
	s.legsMu.Unlock()
	if graceful && !s.clientEOF {
		linger(s.raw, s.srv.base) // Shutdown cuts it short
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
	s.cancel(errors.New(reason))
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

// closing reports whether the session is closing: an I/O error then is our own doing.
func (s *session) closing() bool { return s.ctx.Err() != nil }

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
	s.timerMu.Lock()
	s.idle.Reset(idle - quiet)
	s.timerMu.Unlock()
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
	if s.authed.Load() || s.closing() {
		return
	}
	if !s.mu.TryLock() {
		// A pump holds mu: briefly, as a rule (a greeting being relayed), or for as long as
		// its peer does not read. Try again a few times before closing untold.
		if s.loginRetry() {
			return
		}
		s.loginExpired(false)
		return
	}
	defer s.mu.Unlock()
	if s.t.State() != codec.Authorization {
		return
	}
	if !s.paused && !s.stlsTurn && !s.passThrough && len(s.localq) == 0 && len(s.held) == 0 &&
		s.t.Pending() == 0 && !s.t.ServerMidLine() {
		s.raw.SetWriteDeadline(time.Now().Add(time.Second))
		told := cmp.Or(s.writeClient([]byte("-ERR popwire: no login within "+s.loginTimeout().String()+"; closing\r\n")), s.sendClient()) == nil
		s.loginExpired(told) // still under s.mu: no server byte follows the -ERR line
		return
	}
	// A line now could be read as a reply (one is awaited, or a server line is half in):
	// wait a little for the exchange to settle, then close untold.
	if !s.loginRetry() {
		s.loginExpired(false)
	}
}

// Before closing a session whose login timed out without telling the client, checkLogin
// tries again loginRetries times, loginRetryEvery apart, for a moment when the -ERR line
// cannot be mistaken for a reply.
const (
	loginRetries    = 20
	loginRetryEvery = 25 * time.Millisecond
)

// loginRetry re-arms the login timer for another try and reports whether it did; it runs on
// the timer's goroutine, the only one that touches loginTries.
func (s *session) loginRetry() bool {
	if s.loginTries >= loginRetries {
		return false
	}
	s.loginTries++
	s.timerMu.Lock()
	s.login.Reset(loginRetryEvery)
	s.timerMu.Unlock()
	return true
}

// armTimers starts the idle and login timers. Their callbacks re-arm them through the same
// fields, which they may read as soon as the timers exist: timerMu orders the assignment
// before those reads.
func (s *session) armTimers() {
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	s.idle = time.AfterFunc(orDuration(s.srv.cfg.IdleTimeout, DefaultIdleTimeout), s.checkIdle)
	s.login = time.AfterFunc(s.loginTimeout(), s.checkLogin)
}

// stopTimers stops the idle and login timers; a callback already running finds the session
// closing and does nothing more.
func (s *session) stopTimers() {
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	s.idle.Stop()
	s.login.Stop()
}

// loginExpired logs the login timeout and ends the session, closing the client leg gracefully
// when the client was told.
func (s *session) loginExpired(told bool) {
	s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegClient,
		Err: "proxy: login timeout " + s.loginTimeout().String() + ": the client did not log in; session closed"})
	if told {
		s.finishDelivered("login timeout")
		return
	}
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
		if !s.closing() {
			s.rec.event(logview.Event{Kind: logview.KindError, Leg: logview.LegClient, Client: s.raw.RemoteAddr().String(),
				Via: via(s.raw), Listener: s.listener, Err: oneLine("proxy: client TLS handshake failed: "+err.Error(), 300)})
			s.srv.stats.TLSFailure(metrics.LegClient, err)
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
	s.rec.event(logview.Event{Kind: logview.KindTLS, Leg: logview.LegClient, ClientSec: sec, TLS: tlsInfo(&st, false)})
	return true
}

// dialUpstream opens the upstream leg; on failure the client gets one -ERR [SYS/TEMP] line.
// It runs on a goroutine of its own (onFreshStack); a panic makes it report false.
func (s *session) dialUpstream() (ok bool) {
	defer s.recoverPanic("upstream dial")
	d := &s.srv.dialer
	if s.srv.cfg.ProxyProtocolOut {
		// A v2 header (HAProxy's proxy-protocol.txt §2.2) naming the client, from its own
		// PROXY header or its socket, and the address it connected to.
		proxied := *d
		proxied.ProxyHeader = proxyproto.HeaderProxyFromAddrs(2, s.raw.RemoteAddr(), destination(s.raw))
		d = &proxied
	}
	up, err := d.Dial(s.ctx)
	if err != nil {
		if s.closing() {
			return false
		}
		var de *popclient.DialError
		e := logview.Event{Kind: logview.KindError, Leg: logview.LegUpstream, Upstream: s.srv.dialer.Addr, Err: oneLine(err.Error(), 500)}
		if errors.As(err, &de) {
			if de.Step == popclient.StepHandshake || de.Step == popclient.StepVerify {
				s.srv.stats.TLSFailure(metrics.LegUpstream, err)
			}
			e.Extra, _ = json.Marshal(struct {
				Step  popclient.Step `json:"step"`
				Names []string       `json:"names,omitempty"`
			}{de.Step, de.Names})
		}
		s.rec.event(e)
		s.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := s.client.Write(errReply(err)); err != nil {
			s.finish("upstream dial failed")
			return false
		}
		s.finishDelivered("upstream dial failed")
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
		s.rec.event(logview.Event{Kind: logview.KindTLS, Leg: logview.LegUpstream, UpstreamSec: upstreamSecurity(s.srv.cfg.UpstreamMode), TLS: info})
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
