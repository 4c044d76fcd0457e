package shell

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/popclient"
)

// QuitReminder is printed when the shell leaves without QUIT.
const QuitReminder = "left without QUIT: nothing was committed (only QUIT commits deletions, RFC 1939 §6)"

// ErrServerClosed reports that the server closed the connection before QUIT.
var ErrServerClosed = errors.New("shell: the server closed the connection")

// Options says where the shell connects. The zero value connects to pop.gmail.com:995 over
// verified implicit TLS, without colour.
type Options struct {
	Addr               string                 // HOST:PORT; "" means popclient.DefaultUpstream
	Mode               popclient.UpstreamMode // implicit TLS (zero), STLS, or plaintext
	ServerName         string                 // SNI and verification name; "" means the host of Addr
	RootCAs            *x509.CertPool         // nil: the system pool
	InsecureSkipVerify bool                   // skip certificate verification (a warning is printed)
	Timeout            time.Duration          // bound on connecting; 0 means popclient.DefaultDialTimeout
	Color              bool                   // colour replies
}

// Run connects, prints the greeting, then sends each line in reads and prints its reply,
// until QUIT has been answered (nil), in ends (nil, after QuitReminder), ctx ends (ctx.Err(),
// after QuitReminder) or the connection fails. Output goes to out.
func Run(ctx context.Context, o Options, in Input, out io.Writer) error {
	if o.Addr == "" {
		o.Addr = popclient.DefaultUpstream
	}
	p := newPrinter(out, o.Color)
	d := &popclient.Dialer{Addr: o.Addr, Mode: o.Mode, ServerName: o.ServerName, RootCAs: o.RootCAs,
		InsecureSkipVerify: o.InsecureSkipVerify, Timeout: o.Timeout}
	c, err := connect(ctx, d, p)
	if err != nil {
		return err
	}
	defer c.Close()
	s := &session{c: c, d: d, p: p, in: in}
	return s.loop(ctx)
}

// connect dials and, for STLS, reads the greeting and upgrades; it prints the greeting.
func connect(ctx context.Context, d *popclient.Dialer, p *printer) (*popclient.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, orDefault(d.Timeout))
	defer cancel()
	plain := *d // STLS is spoken through the codec below, not by the dialer
	if d.Mode == popclient.UpstreamSTARTTLS {
		plain.Mode = popclient.UpstreamPlaintext
	}
	up, err := plain.Dial(dctx)
	if err != nil {
		return nil, fmt.Errorf("shell: connect: %w", err)
	}
	c := popclient.New(up.Conn)
	if up.TLS != nil {
		p.notef("%s", tlsLine(up.TLS, d.InsecureSkipVerify))
	}
	g, err := c.Next(dctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("shell: greeting: %w", err)
	}
	p.part(g)
	if d.Mode != popclient.UpstreamSTARTTLS {
		return c, nil
	}
	if _, err := c.Send("STLS"); err != nil {
		c.Close()
		return nil, fmt.Errorf("shell: %w", err)
	}
	p.notef("sending STLS")
	for {
		pt, err := c.Next(dctx)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("shell: STLS: %w", err)
		}
		p.part(pt)
		if pt.Last {
			if pt.Kind != popclient.PartTLS {
				c.Close()
				return nil, errors.New("shell: the server refused STLS")
			}
			break
		}
	}
	if err := upgrade(dctx, c, d, p); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// upgrade runs the TLS handshake after +OK to STLS and prints its outcome.
func upgrade(ctx context.Context, c *popclient.Conn, d *popclient.Dialer, p *printer) error {
	var st tls.ConnectionState
	err := c.Upgrade(func(nc net.Conn) (net.Conn, error) {
		tc, err := d.Handshake(ctx, nc)
		if err != nil {
			return nil, err
		}
		st = tc.ConnectionState()
		return tc, nil
	})
	if err != nil {
		return fmt.Errorf("shell: STLS: %w", err)
	}
	p.notef("%s", tlsLine(&st, d.InsecureSkipVerify))
	return nil
}

func orDefault(t time.Duration) time.Duration {
	if t <= 0 {
		return popclient.DefaultDialTimeout
	}
	return t
}

// tlsLine describes a TLS connection in one line.
func tlsLine(st *tls.ConnectionState, insecure bool) string {
	v := "certificate verified"
	if insecure {
		v = "certificate NOT verified (--insecure-skip-verify)"
	}
	return fmt.Sprintf("TLS: %s, %s, %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), v)
}

// session is the command loop of one connection.
type session struct {
	c  *popclient.Conn
	d  *popclient.Dialer
	p  *printer
	in Input
}

func (s *session) loop(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			s.p.notef(QuitReminder)
			return err
		}
		line, err := s.in.ReadLine()
		if errors.Is(err, io.EOF) {
			s.p.notef(QuitReminder)
			return nil
		}
		if err != nil {
			return err
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		cmd, err := codec.ParseCommand([]byte(line))
		if err != nil {
			s.p.notef("not a POP3 command line: %v", err)
			continue
		}
		if cmd.Verb == "PASS" && (!cmd.HasArg() || cmd.Arg == codec.Redacted) {
			pw, err := s.in.Password()
			if err != nil {
				return err
			}
			line = "PASS " + pw
		} else if strings.Contains(line, codec.Redacted) {
			s.p.notef("this line holds %s (recalled from history without its secret): type it again", codec.Redacted)
			continue
		}
		done, err := s.exchange(ctx, line)
		if err != nil || done {
			return err
		}
	}
}

// exchange sends line, answers SASL continuations from the Input, and prints the reply. It
// reports whether the session is over (QUIT answered).
func (s *session) exchange(ctx context.Context, line string) (bool, error) {
	safe, err := s.c.Send(line)
	if err != nil {
		return false, err
	}
	s.in.Echo(line, safe)
	quit := strings.EqualFold(strings.Fields(line)[0], "QUIT")
	for {
		pt, err := s.c.Next(ctx)
		if err != nil {
			return false, s.failed(ctx, err)
		}
		// A server may echo what was typed hidden: nothing it says shows a secret sent.
		pt.Line = s.c.Scrub(pt.Line)
		if text := string(pt.Data); text != "" {
			if scrubbed := s.c.Scrub(text); scrubbed != text {
				pt.Data = []byte(scrubbed)
			}
		}
		s.p.part(pt)
		if !pt.Last {
			continue
		}
		switch pt.Kind {
		case popclient.PartChallenge:
			ans, err := s.in.Answer()
			if err != nil {
				return false, err
			}
			if safe, err = s.c.Send(ans); err != nil {
				return false, err
			}
			s.in.Echo(ans, safe)
			continue
		case popclient.PartTLS:
			if err := upgrade(ctx, s.c, s.d, s.p); err != nil {
				return false, err
			}
		}
		return quit && pt.Reply.Status == codec.StatusOK, nil
	}
}

// failed reports a reply that could not be read.
func (s *session) failed(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		s.p.notef(QuitReminder)
		return ctx.Err()
	case errors.Is(err, popclient.ErrClosed):
		s.p.notef("the server closed the connection")
		return ErrServerClosed
	}
	return err
}
