package popserver

import (
	"crypto/md5"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Replies shared by every login path.
const (
	authFailed = "[AUTH] Authentication failed."                       // RFC 3206 §5
	inUse      = "[IN-USE] Mailbox is locked by another POP3 session." // RFC 2449 §8.1.2
)

// cmdUser answers USER name (RFC 1939 §7). Whether name exists is not revealed here.
func (s *session) cmdUser(arg string) {
	if arg == "" {
		s.err("Missing user name.")
		return
	}
	s.user = arg
	s.ok("")
}

// cmdPass answers PASS string; it is valid only right after a successful USER (RFC 1939 §7).
func (s *session) cmdPass(arg string) {
	user := s.user
	s.user = ""
	if user == "" {
		s.err("No username given.")
		return
	}
	if !s.checkPassword(user, arg) {
		s.loginFailed("PASS", user)
		return
	}
	s.login("PASS", user)
}

// cmdAPOP answers APOP name digest, digest being MD5(timestamp ‖ password) in lower-case hex
// (RFC 1939 §7).
func (s *session) cmdAPOP(arg string) {
	s.user = ""
	name, digest, ok := strings.Cut(arg, " ")
	if !ok || name == "" || len(digest) != 2*md5.Size {
		s.err("Invalid APOP arguments.")
		return
	}
	pass, known := s.srv.Users[name]
	sum := md5.Sum([]byte(s.stamp + pass))
	want := hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(want), []byte(digest)) != 1 || !known {
		s.loginFailed("APOP", name)
		return
	}
	s.login("APOP", name)
}

// checkPassword reports whether pass is user's password, in constant time for known users.
func (s *session) checkPassword(user, pass string) bool {
	want, known := s.srv.Users[user]
	return subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1 && known
}

// login moves to TRANSACTION once the credentials are verified, unless another session holds
// the maildrop (RFC 1939 §8); then the session stays in AUTHORIZATION.
func (s *session) login(how, user string) {
	l := s.srv.store().acquire(user)
	if l == nil {
		s.srv.logf("popserver: %s: %s login of %q refused: maildrop in use", s.peer, how, user)
		s.err(inUse)
		return
	}
	s.lease = l
	s.state = transaction
	s.srv.logf("popserver: %s: %s login of %q", s.peer, how, user)
	s.ok("Logged in.")
}

// loginFailed answers a rejected credential.
func (s *session) loginFailed(how, user string) {
	s.srv.logf("popserver: %s: %s login of %q failed", s.peer, how, user)
	s.err(authFailed)
}

// cmdSTLS answers STLS (RFC 2595 §4) and performs the TLS handshake. Bytes the client sent
// after STLS and before the handshake are discarded, never executed: they were not protected
// by TLS (the CVE-2011-0411 command-injection class). A failed handshake ends the session.
func (s *session) cmdSTLS() error {
	switch {
	case s.tls:
		s.err("TLS is already active.")
		return nil
	case s.srv.TLSConfig == nil:
		s.err("[SYS/PERM] TLS support isn't enabled.")
		return nil
	}
	s.ok("Begin TLS negotiation now.")
	if err := s.flush(); err != nil {
		return err
	}
	if n := s.r.Buffered(); n > 0 {
		s.r.Discard(n)
		s.srv.logf("popserver: %s: discarded %d bytes sent after STLS before the handshake", s.peer, n)
	}
	tc := tls.Server(s.conn, s.srv.TLSConfig)
	tc.SetDeadline(time.Now().Add(s.srv.idle()))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("popserver: stls handshake: %w", err)
	}
	s.conn = tc
	s.r.Reset(tc)
	s.w.Reset(tc)
	s.tls = true
	s.user = ""
	return nil
}
