package popclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/redact"
)

// Errors a Conn returns; test them with errors.Is.
var (
	// ErrClosed reports that the server closed the connection.
	ErrClosed = errors.New("popclient: connection closed by the server")
	// ErrNoReply reports a Next with no reply outstanding.
	ErrNoReply = errors.New("popclient: no reply is outstanding")
	// ErrFraming reports that the codec could not frame what the server sent.
	ErrFraming = errors.New("popclient: framing lost")
	// ErrInjection reports bytes the server sent after its +OK to STLS, before the TLS
	// handshake (a response injection, RFC 2595 §4; CVE-2021-22947 class).
	ErrInjection = errors.New("popclient: bytes after +OK to STLS before the handshake (response injection?)")
	// ErrUpgrade reports a command sent while the Conn waits for Upgrade.
	ErrUpgrade = errors.New("popclient: STLS accepted; upgrade to TLS first")
)

// readSize is the size of the one read buffer of a Conn.
const readSize = 32 << 10

// Conn is a client POP3 connection. It is not safe for concurrent use, except Close, which
// may be called from any goroutine to interrupt a Next.
//
// A Conn expects the greeting first: read it with Read (or Next). After an error other than a
// context error, the Conn is unusable and every call returns that error.
type Conn struct {
	conn    net.Conn
	t       codec.Tracker
	buf     []byte          // read buffer, allocated once
	out     []byte          // send buffer, cleared after each write (it may hold a secret)
	queue   []Part          // parts framed but not yet returned
	waiting bool            // a reply is outstanding (the greeting at first)
	upgrade bool            // +OK to STLS seen: Upgrade must come next
	err     error           // sticky error
	secrets redact.Scrubber // the secrets sent (see Scrub)
}

// New returns a Conn speaking POP3 on conn, which it owns from now on; the server's greeting
// is the first reply to read.
func New(conn net.Conn) *Conn { return newConn(conn, readSize) }

// newConn returns a Conn on conn reading at most size bytes at a time.
func newConn(conn net.Conn, size int) *Conn {
	c := &Conn{conn: conn, buf: make([]byte, size), waiting: true}
	c.t.BodyData = true
	return c
}

// received hands the Conn bytes already read from its connection, as if it had read them.
func (c *Conn) received(b []byte) { c.absorb(c.t.Server(b), len(b)) }

// State returns the POP3 session state as the codec follows it (RFC 1939 §3).
func (c *Conn) State() codec.State { return c.t.State() }

// Close closes the connection without sending anything: no QUIT, so nothing is committed
// (RFC 1939 §6).
func (c *Conn) Close() error { return c.conn.Close() }

// Send writes line with CRLF appended and returns its rendering for display: a line that
// carries a secret (PASS, APOP, AUTH initial responses, SASL answers) comes back with the
// secret replaced by codec.Redacted. line must not contain CR or LF. Send does not keep line;
// its copy in the send buffer is zeroed once written. A reply is then outstanding.
func (c *Conn) Send(line string) (string, error) {
	if c.err != nil {
		return "", c.err
	}
	if c.upgrade {
		return "", ErrUpgrade
	}
	// Parts still queued are notes about lines no command asked for (an unsolicited -ERR, an
	// anomaly); they come before the next reply, so only an unread reply blocks a send.
	if c.waiting {
		return "", fmt.Errorf("popclient: send: the previous reply has not been read")
	}
	if bytes.ContainsAny([]byte(line), "\r\n") {
		return "", fmt.Errorf("popclient: send: a command line holds a line break")
	}
	c.out = append(append(c.out[:0], line...), '\r', '\n')
	defer clear(c.out)
	safe := ""
	for _, f := range c.t.Client(c.out) {
		switch f.Kind {
		case codec.FrameCommand, codec.FrameSASL, codec.FrameHeld:
			safe = display(f)
			if f.Auth != nil {
				for _, s := range f.Auth.Secrets {
					c.secrets.AddSecret(string(s))
				}
			}
		case codec.FrameStopped:
			c.err = fmt.Errorf("%w: %s", ErrFraming, f.Note)
		}
	}
	if c.err != nil {
		return "", c.err
	}
	if _, err := c.conn.Write(c.out); err != nil {
		c.err = fmt.Errorf("popclient: send: %w", err)
		if closedByPeer(err) {
			c.err = fmt.Errorf("%w (%v)", ErrClosed, err)
		}
		return "", c.err
	}
	c.waiting = true
	return safe, nil
}

// Scrub returns text with every secret sent on c (passwords, SASL responses, as the codec
// finds them) replaced by redact.Marker: servers echo input, and what they say must not show
// what the user typed hidden.
func (c *Conn) Scrub(text string) string { return c.secrets.Scrub(text) }

// display renders a client frame without its secrets.
func display(f codec.Frame) string {
	if f.Auth != nil {
		return f.Auth.Safe
	}
	if f.Kind == codec.FrameCommand {
		return f.Cmd.String()
	}
	return string(f.Line)
}

// Next returns the next part of the outstanding reply, reading from the server as needed;
// the part with Last set completes it. Parts the codec reports after a reply ended (an
// unsolicited line) come with the next reply. ctx bounds the wait: when it ends, Next
// returns ctx.Err() and the Conn stays usable only if nothing was lost (the reply may still
// come).
func (c *Conn) Next(ctx context.Context) (Part, error) {
	for {
		if len(c.queue) > 0 {
			p := c.queue[0]
			c.queue = c.queue[1:]
			if p.Last {
				c.waiting = false
			}
			return p, nil
		}
		if c.err != nil {
			return Part{}, c.err
		}
		if !c.waiting {
			return Part{}, ErrNoReply
		}
		if err := c.fill(ctx); err != nil {
			return Part{}, err
		}
	}
}

// fill reads one chunk and queues the parts it completes.
func (c *Conn) fill(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	n, err := c.conn.Read(c.buf)
	if !stop() {
		<-fired
		c.conn.SetReadDeadline(time.Time{})
		if n == 0 {
			return ctx.Err()
		}
		err = nil
	}
	if n > 0 {
		c.received(c.buf[:n])
	}
	if err != nil && c.err == nil {
		if errors.Is(err, io.EOF) || closedByPeer(err) {
			c.absorb(c.t.EOF(codec.FromServer), 0)
			c.err = ErrClosed
		} else {
			c.err = fmt.Errorf("popclient: read: %w", err)
		}
	}
	return nil
}

// closedByPeer reports whether err says the server ended the connection with a reset rather
// than a FIN: a server that closes with unread input (a line sent after its QUIT reply) makes
// its kernel send one, and the next read or write fails with ECONNRESET or EPIPE instead of
// EOF.
func closedByPeer(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// absorb turns the frames of one chunk of n bytes into queued parts.
func (c *Conn) absorb(frames []codec.Frame, n int) {
	for _, f := range frames {
		switch f.Kind {
		case codec.FrameGreeting:
			c.push(Part{Kind: PartStatus, Reply: f.Reply, Line: string(f.Line), Last: true})
		case codec.FrameReply:
			c.push(Part{Kind: PartStatus, Reply: f.Reply, Line: string(f.Line), Multi: f.Multi, Last: !f.Multi})
		case codec.FrameChallenge:
			c.push(Part{Kind: PartChallenge, Reply: f.Reply, Line: string(f.Line), Last: true})
		case codec.FrameListLine:
			c.push(Part{Kind: PartLine, Line: string(f.Line)})
		case codec.FrameBodyData:
			c.push(Part{Kind: PartData, Data: bytes.Clone(f.Data)})
		case codec.FrameBodyEnd:
			c.push(Part{Kind: PartEnd, Lines: f.Lines, Octets: f.Octets, Last: true})
		case codec.FrameTLS:
			c.push(Part{Kind: PartTLS, Reply: f.Reply, Line: string(f.Line), Last: true})
			c.upgrade = true
			if f.End != n {
				c.err = ErrInjection
			}
		case codec.FrameUnsolicited:
			c.push(Part{Kind: PartNote, Reply: f.Reply, Line: "unsolicited: " + string(f.Line)})
		case codec.FrameAnomaly:
			note := f.Note
			if f.Rule != 0 {
				note = f.Rule.String() + " (" + f.Rule.RFC() + "): " + note
			}
			c.push(Part{Kind: PartNote, Line: note})
		case codec.FrameEOF:
			c.push(Part{Kind: PartNote, Line: f.Note})
		case codec.FrameStopped:
			c.err = fmt.Errorf("%w: %s", ErrFraming, f.Note)
		}
	}
}

func (c *Conn) push(p Part) { c.queue = append(c.queue, p) }

// Upgrade hands the connection to handshake after a PartTLS (RFC 2595 §4) and speaks POP3 on
// the connection it returns from then on. On error the Conn is unusable; the caller closes it.
func (c *Conn) Upgrade(handshake func(net.Conn) (net.Conn, error)) error {
	if c.err != nil {
		return c.err
	}
	if !c.upgrade {
		return fmt.Errorf("popclient: upgrade: the server has not accepted STLS")
	}
	tc, err := handshake(c.conn)
	if err != nil {
		c.err = fmt.Errorf("popclient: upgrade: %w", err)
		return err
	}
	c.conn, c.upgrade = tc, false
	return nil
}
