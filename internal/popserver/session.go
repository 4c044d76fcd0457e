package popserver

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
)

const (
	// maxLine caps a client line (command or SASL answer), line ending included. RFC 2449 §4
	// asks for 255 octets; Dovecot accepts SASL lines of 8192 (reference §1.2).
	maxLine = 16 << 10
	// writeBuffer is the size of the reply buffer; replies are flushed when no pipelined
	// input is pending (RFC 2449 §6.6).
	writeBuffer = 64 << 10
	// bodyChunk is how much of a message one write carries; the write deadline is renewed per
	// chunk, so the idle timeout measures lack of progress, not the length of a transfer.
	bodyChunk = 1 << 20
)

// state is the RFC 1939 §3 session state; UPDATE is entered and left inside QUIT.
type state uint8

const (
	authorization state = iota
	transaction
)

// errLineTooLong ends a session whose client sent a line longer than maxLine.
var errLineTooLong = errors.New("popserver: input line too long")

// errIdle ends a session whose client sent nothing for the idle timeout.
var errIdle = errors.New("popserver: idle timeout")

// errQuit ends a session after QUIT was answered.
var errQuit = errors.New("popserver: quit")

// stampSeq makes timestamps unique within the process even on a coarse clock.
var stampSeq atomic.Uint64

// session is one client connection.
type session struct {
	srv   *Server
	conn  net.Conn      // the current transport (plaintext, or TLS after STLS / implicit TLS)
	r     *bufio.Reader // reads conn; replaced buffers are never carried across STLS
	w     *bufio.Writer
	tls   bool   // TLS is active on conn
	state state  // authorization or transaction
	user  string // name given by a successful USER, awaiting PASS; "" when none
	stamp string // APOP timestamp of the greeting, "<pid.seq.nanos@host>"
	lease *lease // the locked maildrop in TRANSACTION
	peer  string // remote address for logs
}

// newSession prepares a session on c.
func newSession(srv *Server, c net.Conn) *session {
	_, isTLS := c.(*tls.Conn)
	return &session{
		srv:  srv,
		conn: c,
		r:    bufio.NewReaderSize(c, maxLine),
		w:    bufio.NewWriterSize(c, writeBuffer),
		tls:  isTLS,
		peer: c.RemoteAddr().String(),
	}
}

// timestamp returns a fresh msg-id style timestamp (RFC 1939 §7, RFC 2195 §2).
func (s *session) timestamp() string {
	return fmt.Sprintf("<%d.%d.%d@%s>", os.Getpid(), stampSeq.Add(1), time.Now().UnixNano(), s.srv.hostname())
}

// run serves the session until QUIT, an error, the idle timeout or Server.Close.
func (s *session) run() {
	defer func() {
		if s.lease != nil {
			s.lease.release()
		}
		s.conn.Close()
	}()
	s.srv.logf("popserver: %s: connected", s.peer)
	if tc, ok := s.conn.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(s.srv.idle()))
		if err := tc.Handshake(); err != nil {
			s.srv.logf("popserver: %s: tls handshake: %v", s.peer, err)
			return
		}
	}
	s.stamp = s.timestamp()
	greeting := s.srv.Greeting
	if greeting == "" {
		greeting = "popwire-popserver ready."
	}
	s.ok(greeting + " " + s.stamp)
	err := s.loop()
	switch {
	case errors.Is(err, errQuit):
		s.srv.logf("popserver: %s: quit", s.peer)
	case errors.Is(err, errIdle):
		s.err("Disconnected for inactivity.")
		s.flush()
		s.srv.logf("popserver: %s: disconnected for inactivity", s.peer)
	case errors.Is(err, errLineTooLong):
		s.err("Input line too long.")
		s.flush()
		s.srv.logf("popserver: %s: input line too long", s.peer)
	default:
		s.srv.logf("popserver: %s: closed: %v", s.peer, err)
	}
}

// loop reads and executes commands in order until one ends the session.
func (s *session) loop() error {
	for {
		line, err := s.readLine()
		if err != nil {
			return err
		}
		s.armWrite()
		if err := s.execute(line); err != nil {
			if errors.Is(err, errQuit) {
				if ferr := s.flush(); ferr != nil {
					return ferr
				}
			}
			return err
		}
	}
}

// readLine returns the next client line without its line ending (CRLF, or a bare LF as
// Dovecot accepts). Pending replies are flushed first when no pipelined input is buffered, so
// a batch of commands gets its replies in as few writes as possible (RFC 2449 §6.6). The slice
// is valid until the next read.
func (s *session) readLine() ([]byte, error) {
	if s.r.Buffered() == 0 {
		if err := s.flush(); err != nil {
			return nil, err
		}
	}
	if err := s.conn.SetReadDeadline(time.Now().Add(s.srv.idle())); err != nil {
		return nil, fmt.Errorf("popserver: read deadline: %w", err)
	}
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errLineTooLong
	}
	if isTimeout(err) {
		return nil, errIdle
	}
	if err != nil {
		return nil, fmt.Errorf("popserver: read: %w", err)
	}
	line = line[:len(line)-1]
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// armWrite renews the write deadline: a client that reads nothing for the idle timeout loses
// the session.
func (s *session) armWrite() {
	s.conn.SetWriteDeadline(time.Now().Add(s.srv.idle()))
}

// flush writes buffered replies.
func (s *session) flush() error {
	if s.w.Buffered() == 0 {
		return nil
	}
	s.armWrite()
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("popserver: write: %w", err)
	}
	return nil
}

// ok queues "+OK text" (bare "+OK" when text is empty, RFC 2449 §3).
func (s *session) ok(text string) { s.status("+OK", text) }

// err queues "-ERR text".
func (s *session) err(text string) { s.status("-ERR", text) }

// status queues one status line. Write errors stay in the writer and surface at the next flush.
func (s *session) status(st, text string) {
	s.w.WriteString(st)
	if text != "" {
		s.w.WriteByte(' ')
		s.w.WriteString(text)
	}
	s.w.WriteString("\r\n")
}

// line queues one line of a multi-line reply; text must not start with '.'.
func (s *session) line(text string) {
	s.w.WriteString(text)
	s.w.WriteString("\r\n")
}

// end queues the terminator of a multi-line reply (RFC 1939 §3).
func (s *session) end() { s.w.WriteString(".\r\n") }

// body queues already stuffed message bytes in large chunks, renewing the write deadline per
// chunk.
func (s *session) body(wire []byte) {
	for len(wire) > 0 {
		n := min(len(wire), bodyChunk)
		s.armWrite()
		s.w.Write(wire[:n])
		wire = wire[n:]
	}
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
