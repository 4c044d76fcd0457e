package e2e

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// TestLongLineLastWords sends a 10 MB line; Dovecot answers with a final -ERR and closes, its
// input unread. Through popwire, over either listener, the client must get exactly what the
// same client gets straight from Dovecot, every time, then a clean end of stream. Before login
// it is "-ERR Input buffer full, aborting" over implicit TLS; after login it is "-ERR Input
// line too long.", on Dovecot's plaintext port, for over TLS its login process, which relays
// the pop3 process's TLS, sometimes loses the line itself (1 run in 20 measured, straight).
func TestLongLineLastWords(t *testing.T) {
	t.Parallel()
	d := dovecotInstance(t)
	localCA := popwireCA(t)
	line := "NOOP " + strings.Repeat("x", 10<<20) + "\r\n"
	for _, tc := range []struct {
		name     string
		login    bool
		port     int
		ca       string
		upstream popwireOpts
	}{
		{"before login", false, d.tlsPort, d.ca.CertPEM, popwireOpts{}},
		{"after login", true, d.plainPort, "", popwireOpts{upstreamPort: d.plainPort, upstreamTLS: "none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := lastWords(loopback(tc.port), tc.ca, serverName, tc.login, line)
			if !strings.HasPrefix(want, "-ERR ") || strings.Count(want, "\n") != 1 {
				t.Fatalf("straight from Dovecot: got %q (%v), want one -ERR line", want, err)
			}
			pw := startPopwire(t, d, tc.upstream)
			for _, l := range []struct{ name, addr, ca string }{
				{"plain", pw.plainAddr, ""},
				{"tls", pw.tlsAddr, localCA},
			} {
				for i := range 10 {
					got, err := lastWords(l.addr, l.ca, "localhost", tc.login, line)
					if got != want || err != nil {
						t.Fatalf("%s listener, run %d: client got %q, %v; want %q as straight from Dovecot, then EOF", l.name, i, got, err, want)
					}
				}
			}
		})
	}
}

// lastWords connects to addr, logs in when asked, sends line while reading, and returns what
// the server sent after that until the end of the stream, and the read error (nil at EOF).
func lastWords(addr, ca, name string, login bool, line string) (string, error) {
	p, err := dialPOP(addr, ca, name)
	if err != nil {
		return "", err
	}
	defer p.conn.Close()
	if login {
		if err := p.login(userDirect); err != nil {
			return "", err
		}
	}
	p.raw.Reset()
	wrote := make(chan struct{})
	go writeLine(p.conn, line, wrote)
	_, err = io.Copy(io.Discard, p.r)
	p.conn.Close()
	<-wrote
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return p.raw.String(), err
}

// writeLine writes line to w, ignoring the error of a peer that stopped reading, and closes
// done.
func writeLine(w io.Writer, line string, done chan<- struct{}) {
	defer close(done)
	io.WriteString(w, line)
}
