package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// Timeouts of the benchmark client; every network operation has one.
const (
	dialTimeout = 15 * time.Second
	cmdTimeout  = 15 * time.Second
	retrTimeout = 120 * time.Second
)

// errMismatch is wrapped by every error about fetched bytes that differ from what the upstream
// was given; the harness exits with status 2 when it sees one.
var errMismatch = errors.New("bench: byte mismatch")

// errRefused is wrapped by the error of a status line that is -ERR.
var errRefused = errors.New("bench: refused")

// popConn is a minimal POP3 client connection.
type popConn struct {
	c net.Conn
	r *bufio.Reader
}

// dialPOP connects to in (with TLS for the direct contender) and reads the +OK greeting.
// bufSize is the read buffer size.
func dialPOP(ctx context.Context, in *instance, bufSize int) (*popConn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", in.addr)
	if err != nil {
		return nil, fmt.Errorf("bench: dial %s: %w", in.addr, err)
	}
	c.SetDeadline(time.Now().Add(dialTimeout))
	if in.tls != nil {
		tc := tls.Client(c, in.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("bench: tls handshake: %w", err)
		}
		c = tc
	}
	p := &popConn{c: c, r: bufio.NewReaderSize(c, bufSize)}
	if _, err := p.status(); err != nil {
		c.Close()
		return nil, fmt.Errorf("bench: greeting: %w", err)
	}
	return p, nil
}

// status reads one status line and returns it without CRLF; a -ERR line is an error that
// wraps errRefused, any other line that is not +OK an error too.
func (p *popConn) status() (string, error) {
	line, err := p.r.ReadSlice('\n')
	if err != nil {
		return "", fmt.Errorf("bench: read: %w", err)
	}
	s := string(bytes.TrimRight(line, "\r\n"))
	switch {
	case bytes.HasPrefix(line, []byte("-ERR")):
		return s, fmt.Errorf("%w: %q", errRefused, s)
	case !bytes.HasPrefix(line, []byte("+OK")):
		return s, fmt.Errorf("bench: server said %q", s)
	}
	return s, nil
}

// cmd sends one command line and reads its status line, within cmdTimeout.
func (p *popConn) cmd(line string) (string, error) {
	p.c.SetDeadline(time.Now().Add(cmdTimeout))
	if _, err := p.c.Write([]byte(line + "\r\n")); err != nil {
		return "", fmt.Errorf("bench: write: %w", err)
	}
	return p.status()
}

// login authenticates with USER and PASS (RFC 1939 §7).
func (p *popConn) login(user string) error {
	if _, err := p.cmd("USER " + user); err != nil {
		return err
	}
	if _, err := p.cmd("PASS " + benchPassword); err != nil {
		return fmt.Errorf("bench: login %s: %w", user, err)
	}
	return nil
}

// retr fetches message n and checks the SHA-256 of everything after the status line against
// want (see wireSum). It returns the number of bytes read after the status line.
func (p *popConn) retr(n int, want [sha256.Size]byte) (int64, error) {
	if _, err := p.cmd(fmt.Sprintf("RETR %d", n)); err != nil {
		return 0, err
	}
	return p.body(n, want)
}

// retrPipelined sends RETR n, DELE n and RSET in one write, as a pipelining client does (RFC
// 2449 §6.6), checks the message as retr does and reads the other two replies. DELE may be
// refused (popwire --deny DELE answers it locally with -ERR) or accepted (then RSET unmarks
// the message, RFC 1939 §5), so the maildrop is the same after every call. It reports whether
// DELE was refused.
func (p *popConn) retrPipelined(n int, want [sha256.Size]byte) (bool, error) {
	p.c.SetDeadline(time.Now().Add(cmdTimeout))
	if _, err := fmt.Fprintf(p.c, "RETR %d\r\nDELE %d\r\nRSET\r\n", n, n); err != nil {
		return false, fmt.Errorf("bench: write: %w", err)
	}
	if _, err := p.status(); err != nil {
		return false, err
	}
	if _, err := p.body(n, want); err != nil {
		return false, err
	}
	p.c.SetDeadline(time.Now().Add(cmdTimeout))
	_, dele := p.status()
	if dele != nil && !errors.Is(dele, errRefused) {
		return false, dele
	}
	if _, err := p.status(); err != nil {
		return false, fmt.Errorf("bench: RSET after a pipelined DELE: %w", err)
	}
	return dele != nil, nil
}

// body reads the multi-line reply of RETR n and checks the SHA-256 of everything after the
// status line against want. It returns the number of bytes read.
func (p *popConn) body(n int, want [sha256.Size]byte) (int64, error) {
	p.c.SetDeadline(time.Now().Add(retrTimeout))
	h := sha256.New()
	sc := newEndScanner()
	var total int64
	for {
		if p.r.Buffered() == 0 {
			if _, err := p.r.Peek(1); err != nil {
				return total, fmt.Errorf("%w: reply ended after %d bytes: %w", errMismatch, total, err)
			}
		}
		buf, _ := p.r.Peek(p.r.Buffered())
		k, done := sc.scan(buf)
		h.Write(buf[:k])
		p.r.Discard(k)
		total += int64(k)
		if done {
			break
		}
	}
	var got [sha256.Size]byte
	h.Sum(got[:0])
	if got != want {
		return total, fmt.Errorf("%w: RETR %d: sha256 %x, want %x (%d bytes)", errMismatch, n, got, want, total)
	}
	return total, nil
}

// quit sends QUIT, reads its reply and closes the connection.
func (p *popConn) quit() error {
	_, err := p.cmd("QUIT")
	p.c.Close()
	return err
}
