package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// popClient is a minimal POP3 client for the tests' own reference reads: it records every byte
// the server sent, so that two servers' transcripts can be compared byte for byte.
type popClient struct {
	conn net.Conn
	r    *bufio.Reader
	raw  bytes.Buffer // every byte read from the server
}

// dialPOP connects to addr; with caFile set it speaks implicit TLS verifying name.
func dialPOP(addr, caFile, name string) (*popClient, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("e2e: dial %s: %w", addr, err)
	}
	if caFile != "" {
		cfg, err := tlsConfig(caFile, name)
		if err != nil {
			c.Close()
			return nil, err
		}
		c = tls.Client(c, cfg)
	}
	if err := c.SetDeadline(time.Now().Add(2 * time.Minute)); err != nil {
		c.Close()
		return nil, fmt.Errorf("e2e: %w", err)
	}
	p := &popClient{conn: c}
	p.r = bufio.NewReaderSize(io.TeeReader(c, &p.raw), 64<<10)
	if _, err := p.line(); err != nil {
		c.Close()
		return nil, err
	}
	return p, nil
}

func tlsConfig(caFile, name string) (*tls.Config, error) {
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("e2e: no certificate in %s", caFile)
	}
	return &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}, nil
}

// line reads one CRLF-terminated line and returns it without the CRLF.
func (p *popClient) line() (string, error) {
	l, err := p.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("e2e: read: %w", err)
	}
	return strings.TrimSuffix(l, "\r\n"), nil
}

// cmd sends one command and returns its status line; a -ERR is an error.
func (p *popClient) cmd(format string, args ...any) (string, error) {
	if _, err := fmt.Fprintf(p.conn, format+"\r\n", args...); err != nil {
		return "", fmt.Errorf("e2e: write: %w", err)
	}
	l, err := p.line()
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(l, "+OK") {
		return l, fmt.Errorf("e2e: %q answered %q", strings.Fields(format)[0], l)
	}
	return l, nil
}

// multi sends a command answered by a multi-line reply (RFC 1939 §3) and returns the body with
// the dot-stuffing and the terminating line removed.
func (p *popClient) multi(format string, args ...any) ([]byte, error) {
	if _, err := p.cmd(format, args...); err != nil {
		return nil, err
	}
	var body bytes.Buffer
	for {
		l, err := p.r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("e2e: read body: %w", err)
		}
		if string(l) == ".\r\n" {
			return body.Bytes(), nil
		}
		if l[0] == '.' {
			l = l[1:]
		}
		body.Write(l)
	}
}

// login sends USER and PASS.
func (p *popClient) login(user string) error {
	if _, err := p.cmd("USER %s", user); err != nil {
		return err
	}
	_, err := p.cmd("PASS %s", password(user))
	return err
}

// quit sends QUIT and closes the connection.
func (p *popClient) quit() error {
	_, err := p.cmd("QUIT")
	p.conn.Close()
	return err
}
