package popclient_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/popclient/popclienttest"
)

// stlsServer starts a plaintext server on loopback that, on each connection, writes greeting,
// reads one line, answers it with reply (both written as they are) and then runs the TLS
// server handshake with cfg; after the handshake it answers one line with "+OK\r\n". It
// returns the address to dial.
func stlsServer(t *testing.T, cfg *tls.Config, greeting, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go serveSTLS(ln, cfg, greeting, reply, done)
	return ln.Addr().String()
}

// serveSTLS is the accept loop of stlsServer; it closes done when ln is closed. Connections
// are served one at a time, each within 10 seconds.
func serveSTLS(ln net.Listener, cfg *tls.Config, greeting, reply string, done chan<- struct{}) {
	defer close(done)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(greeting)); err == nil {
			if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
				c.Write([]byte(reply))
				tc := tls.Server(c, cfg)
				if tc.Handshake() == nil {
					if _, err := bufio.NewReader(tc).ReadString('\n'); err == nil {
						tc.Write([]byte("+OK\r\n"))
					}
				}
			}
		}
		c.Close()
	}
}

// TestDialSTARTTLS dials in STARTTLS mode: the greeting comes back verbatim, and a refusal,
// an injection or a greeting that is not +OK fails the STLS step.
func TestDialSTARTTLS(t *testing.T) {
	certs := popclienttest.NewCerts(t, false, "pop.test")
	tests := []struct {
		name, greeting, reply string
		ok                    bool
	}{
		{"clean", "+OK ready <1.2@pop.test>\r\n", "+OK Begin TLS\r\n", true},
		{"bare LF greeting", "+OK ready\n", "+OK\r\n", true},
		{"refused", "+OK ready\r\n", "-ERR [SYS/TEMP] not now\r\n", false},
		{"injected after +OK", "+OK ready\r\n", "+OK Begin TLS\r\n+OK injected\r\n", false},
		{"injected after the greeting", "+OK ready\r\n-ERR injected\r\n", "+OK Begin TLS\r\n", false},
		{"greeting -ERR", "-ERR go away\r\n", "+OK\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &popclient.Dialer{Addr: stlsServer(t, certs.Server, tt.greeting, tt.reply), Mode: popclient.UpstreamSTARTTLS,
				ServerName: "pop.test", RootCAs: certs.Pool, Timeout: 5 * time.Second}
			up, err := d.Dial(t.Context())
			if !tt.ok {
				var de *popclient.DialError
				if !errors.As(err, &de) || de.Step != popclient.StepSTLS {
					t.Fatalf("Dial: %v, want a DialError of the stls step", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer up.Conn.Close()
			if string(up.Greeting) != tt.greeting || up.TLS == nil || up.TLS.ServerName != "pop.test" {
				t.Fatalf("greeting %q, TLS %v: want %q over TLS", up.Greeting, up.TLS, tt.greeting)
			}
			if up.ConnectTime <= 0 || up.TLSTime <= 0 {
				t.Errorf("step times: connect %v, TLS %v; want both measured", up.ConnectTime, up.TLSTime)
			}
			up.Conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := up.Conn.Write([]byte("NOOP\r\n")); err != nil {
				t.Fatal(err)
			}
			if l, err := bufio.NewReader(up.Conn).ReadString('\n'); l != "+OK\r\n" {
				t.Fatalf("NOOP over TLS: %q, %v", l, err)
			}
		})
	}
}

// TestDialPlaintextTimes dials a plaintext server: the connect is timed, and no TLS time is told.
func TestDialPlaintextTimes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go answerGreeting(ln)
	d := &popclient.Dialer{Addr: ln.Addr().String(), Mode: popclient.UpstreamPlaintext, ReadGreeting: true, Timeout: 5 * time.Second}
	up, err := d.Dial(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer up.Conn.Close()
	if up.ConnectTime <= 0 || up.TLSTime != 0 {
		t.Errorf("step times: connect %v, TLS %v; want connect measured, TLS 0", up.ConnectTime, up.TLSTime)
	}
}

// answerGreeting writes a greeting to the first connection on ln and closes it.
func answerGreeting(ln net.Listener) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	c.Write([]byte("+OK ready\r\n"))
	c.Close()
}

// TestDialerSTLSAgreesWithConn has the Dialer and a Conn (as probe and shell use it) do STLS
// with the same servers: they must agree on every greeting and reply, as one implementation.
func TestDialerSTLSAgreesWithConn(t *testing.T) {
	certs := popclienttest.NewCerts(t, false, "pop.test")
	tests := []struct{ name, greeting, reply string }{
		{"clean", "+OK ready\r\n", "+OK Begin TLS\r\n"},
		{"lower-case status", "+OK ready\r\n", "+ok begin TLS\r\n"},
		{"lower-case greeting", "+ok ready\r\n", "+OK Begin TLS\r\n"},
		{"status run into a word", "+OK ready\r\n", "+OKAY\r\n"},
		{"greeting run into a word", "+OKAY\r\n", "+OK Begin TLS\r\n"},
		{"refused", "+OK ready\r\n", "-ERR no TLS\r\n"},
		{"injected", "+OK ready\r\n", "+OK\r\n-ERR injected\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := stlsServer(t, certs.Server, tt.greeting, tt.reply)
			d := &popclient.Dialer{Addr: addr, Mode: popclient.UpstreamSTARTTLS, ServerName: "pop.test", RootCAs: certs.Pool,
				Timeout: 5 * time.Second}
			up, dialErr := d.Dial(t.Context())
			if dialErr == nil {
				up.Conn.Close()
			}
			connErr := connSTLS(t, d, addr)
			if (dialErr == nil) != (connErr == nil) {
				t.Fatalf("Dialer: %v; Conn: %v; want both to succeed or both to fail", dialErr, connErr)
			}
		})
	}
}

// connSTLS does STLS on a Conn to addr as probe does: greeting, STLS, then the handshake of d.
func connSTLS(t *testing.T, d *popclient.Dialer, addr string) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := popclient.New(nc)
	defer c.Close()
	ctx := testCtx(t)
	g, err := c.Read(ctx)
	if err != nil {
		return err
	}
	if !g.OK() {
		return errors.New("greeting: " + g.Line)
	}
	r, err := c.Do(ctx, "STLS")
	if err != nil {
		return err
	}
	if r.Kind != popclient.PartTLS {
		return errors.New("STLS: " + strings.TrimSpace(r.Line))
	}
	return c.Upgrade(func(nc net.Conn) (net.Conn, error) { return d.Handshake(ctx, nc) })
}
