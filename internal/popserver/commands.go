package popserver

// execute parses and runs one command line (with parseCommand; a line it rejects is an unknown
// command) and queues its reply. It returns a non-nil error only when the session must end
// (errQuit after QUIT, or a transport failure).
func (s *session) execute(line []byte) error {
	c, _ := parseCommand(line)
	switch c.verb {
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
func (s *session) executeAuthorization(c command) error {
	switch c.verb {
	case "USER":
		s.cmdUser(c.arg)
	case "PASS":
		s.cmdPass(c.arg)
	case "APOP":
		s.cmdAPOP(c.arg)
	case "AUTH":
		return s.cmdAuth(c.arg)
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
func (s *session) executeTransaction(c command) {
	switch c.verb {
	case "STAT":
		if s.noArg(c) {
			s.cmdStat()
		}
	case "LIST":
		s.cmdList(c.arg)
	case "RETR":
		s.cmdRetr(c.arg)
	case "TOP":
		s.cmdTop(c.arg)
	case "UIDL":
		s.cmdUIDL(c.arg)
	case "DELE":
		s.cmdDele(c.arg)
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
func (s *session) noArg(c command) bool {
	if c.arg != "" {
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
	s.line("SASL " + s.srv.mechanisms())
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
