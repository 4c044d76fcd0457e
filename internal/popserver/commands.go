package popserver

import "github.com/popwire/popwire/codec"

// execute parses and runs one command line (with codec.ParseCommand; a line it rejects is an
// unknown command) and queues its reply. It returns a non-nil error only when the session must
// end (errQuit after QUIT, or a transport failure).
func (s *session) execute(line []byte) error {
	c, err := codec.ParseCommand(line)
	if err != nil {
		c = codec.Command{}
	}
	switch c.Verb {
	case "CAPA":
		if s.noArg(c) {
			s.capa()
		}
		return nil
	case "NOOP":
		if s.requireTransaction() && s.noArg(c) {
			s.ok("")
		}
		return nil
	case "QUIT":
		if s.noArg(c) {
			s.quit()
			return errQuit
		}
		return nil
	}
	if s.state == authorization {
		return s.executeAuthorization(c)
	}
	s.executeTransaction(c)
	return nil
}

// executeAuthorization runs a command in the AUTHORIZATION state (RFC 1939 §4).
func (s *session) executeAuthorization(c codec.Command) error {
	switch c.Verb {
	case "USER":
		s.cmdUser(c.Arg)
	case "PASS":
		s.cmdPass(c.Arg)
	case "APOP":
		s.cmdAPOP(c.Arg)
	case "AUTH":
		return s.cmdAuth(c.Arg)
	case "STLS":
		if s.noArg(c) {
			return s.cmdSTLS()
		}
	case "STAT", "LIST", "RETR", "TOP", "UIDL", "DELE", "RSET":
		s.err("Not logged in.")
	default:
		// The line is not echoed: in AUTHORIZATION it may be a mis-framed secret.
		s.err("Unknown command.")
	}
	return nil
}

// executeTransaction runs a command in the TRANSACTION state (RFC 1939 §5).
func (s *session) executeTransaction(c codec.Command) {
	switch c.Verb {
	case "STAT":
		if s.noArg(c) {
			s.cmdStat()
		}
	case "LIST":
		s.cmdList(c.Arg)
	case "RETR":
		s.cmdRetr(c.Arg)
	case "TOP":
		s.cmdTop(c.Arg)
	case "UIDL":
		s.cmdUIDL(c.Arg)
	case "DELE":
		s.cmdDele(c.Arg)
	case "RSET":
		if s.noArg(c) {
			s.cmdRset()
		}
	case "USER", "PASS", "APOP", "AUTH", "STLS":
		s.err("Already logged in.")
	default:
		s.err("Unknown command.")
	}
}

// noArg queues -ERR and returns false when c carries an argument its command does not take.
func (s *session) noArg(c codec.Command) bool {
	if c.Arg != "" {
		s.err("Too many arguments.")
		return false
	}
	return true
}

// requireTransaction queues -ERR and returns false outside TRANSACTION.
func (s *session) requireTransaction() bool {
	if s.state != transaction {
		s.err("Not logged in.")
		return false
	}
	return true
}

// quit answers QUIT. From TRANSACTION it enters UPDATE and removes the marked messages
// (RFC 1939 §6); from AUTHORIZATION it removes nothing (RFC 1939 §4).
func (s *session) quit() {
	if s.state != transaction {
		s.ok("Logging out.")
		return
	}
	n := s.lease.commit()
	s.lease = nil
	if n == 0 {
		s.ok("Logging out.")
		return
	}
	s.ok("Logging out, messages deleted.")
}

// capa answers CAPA (RFC 2449 §5) with the capabilities of the current state: STLS only while
// it can be used, USER only before login; SASL stays after login (RFC 5034 §3).
func (s *session) capa() {
	s.ok("Capability list follows")
	s.line("TOP")
	s.line("UIDL")
	if s.state == authorization {
		s.line("USER")
	}
	s.line("SASL " + saslMechanisms)
	s.line("RESP-CODES")
	s.line("PIPELINING")
	s.line("AUTH-RESP-CODE")
	if s.stlsOffered() {
		s.line("STLS")
	}
	s.line("IMPLEMENTATION popwire-popserver")
	s.end()
}

// stlsOffered reports whether STLS can be used now (RFC 2595 §4: AUTHORIZATION, no TLS yet).
func (s *session) stlsOffered() bool {
	return s.srv.TLSConfig != nil && !s.tls && s.state == authorization
}
