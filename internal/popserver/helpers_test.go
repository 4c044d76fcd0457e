package popserver

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/popwire/popwire/internal/testpki"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every client read and write so that a broken server fails a test instead
// of hanging it.
const testTimeout = 10 * time.Second

// testPKI is a CA and a certificate it issued for 127.0.0.1, generated once per test binary.
var testPKI = sync.OnceValues(func() (*testpki.CA, tls.Certificate) {
	ca, err := testpki.NewCA("popserver test CA")
	if err != nil {
		panic(err)
	}
	cert, err := ca.Issue("popserver test", "127.0.0.1")
	if err != nil {
		panic(err)
	}
	return ca, cert
})

// serverTLS returns a server configuration with the test certificate.
func serverTLS() *tls.Config {
	_, cert := testPKI()
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// clientTLS returns a client configuration that trusts only the test CA.
func clientTLS() *tls.Config {
	ca, _ := testPKI()
	return &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
}

// testPassword is the password of every test user; tests check it never reaches a log.
const testPassword = "s3cret pw"

// newTestServer returns a server with users demo and bob (password testPassword), demo owning
// the sample mailbox, and log lines collected into logs.
func newTestServer(t *testing.T) (*Server, *logBuffer) {
	t.Helper()
	store := &Store{}
	if err := store.Put("demo", SampleMailbox()...); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	return &Server{
		Users: map[string]string{"demo": testPassword, "bob": testPassword},
		Store: store,
		Logf:  logs.logf,
	}, logs
}

// logBuffer collects Logf output safely across sessions.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, fmt.Sprintf(format, args...))
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// serve starts srv on a loopback listener (TLS when implicit is set) and closes it when the
// test ends. It returns the address.
func serve(t *testing.T, srv *Server, implicit bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		l = tls.NewListener(l, serverTLS())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

// client is a minimal POP3 test client that sees raw lines.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dial connects to addr (over TLS when implicit is set), reads the greeting and returns it.
func dial(t *testing.T, addr string, implicit bool) (*client, string) {
	t.Helper()
	var conn net.Conn
	var err error
	if implicit {
		conn, err = tls.Dial("tcp", addr, clientTLS())
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	return c, c.line()
}

// send writes the lines, each with CRLF, in one write.
func (c *client) send(lines ...string) {
	c.t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	c.conn.SetWriteDeadline(time.Now().Add(testTimeout))
	if _, err := c.conn.Write([]byte(b.String())); err != nil {
		c.t.Fatalf("write %q: %v", lines, err)
	}
}

// line reads one line and returns it without CRLF; a line not ending in CRLF fails the test.
func (c *client) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// cmd sends one command and returns the first line of its reply.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.line()
}

// body reads a multi-line body up to its terminator and returns the exact content with CRLF
// line endings, unstuffed per RFC 1939 §3.
func (c *client) body() []byte {
	c.t.Helper()
	var out bytes.Buffer
	for {
		l := c.line()
		if l == "." {
			return out.Bytes()
		}
		out.WriteString(strings.TrimPrefix(l, "."))
		out.WriteString("\r\n")
	}
}

// lines reads a multi-line body and returns its lines.
func (c *client) lines() []string {
	c.t.Helper()
	b := strings.TrimSuffix(string(c.body()), "\r\n")
	if b == "" {
		return nil
	}
	return strings.Split(b, "\r\n")
}

// login logs in with USER/PASS and fails the test unless it succeeds.
func (c *client) login(user string) {
	c.t.Helper()
	c.send("USER "+user, "PASS "+testPassword)
	if r := c.line(); r != "+OK" {
		c.t.Fatalf("USER: %q", r)
	}
	if r := c.line(); r != "+OK Logged in." {
		c.t.Fatalf("PASS: %q", r)
	}
}

// expectEOF fails the test unless the server closes the connection next.
func (c *client) expectEOF() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	if l, err := c.r.ReadString('\n'); err == nil || l != "" {
		c.t.Fatalf("want EOF, got %q, %v", l, err)
	}
}

// tlsListener wraps l for implicit TLS with the test certificate.
func tlsListener(l net.Listener) net.Listener { return tls.NewListener(l, serverTLS()) }
