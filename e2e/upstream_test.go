package e2e

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// TestUpstreamSTLS runs popwire's upstream leg in STLS mode against Dovecot's plaintext port
// and requires every message byte-exact through both client listeners.
func TestUpstreamSTLS(t *testing.T) {
	t.Parallel()
	d := dovecotInstance(t)
	pw := startPopwire(t, d, popwireOpts{upstreamPort: d.plainPort, upstreamTLS: "starttls"})
	localCA := popwireCA(t)
	for _, tc := range []struct {
		name string
		addr string
		ca   string
	}{
		{"plain", pw.plainAddr, ""},
		{"tls", pw.tlsAddr, localCA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := dialPOP(tc.addr, tc.ca, "localhost")
			if err != nil {
				t.Fatal(err)
			}
			if err := p.login(userSTLS); err != nil {
				t.Fatal(err)
			}
			for i, m := range d.small {
				got, err := p.multi("RETR %d", i+1)
				if err != nil {
					t.Fatal(err)
				}
				if sum(got) != sum(m.served()) {
					t.Errorf("RETR %d: %d bytes, want %d as stored", i+1, len(got), len(m.served()))
				}
			}
			if err := p.quit(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUpstreamWrongCA points popwire at Dovecot with a CA that did not sign its certificate:
// the client must get one `-ERR [SYS/TEMP] …` line saying why, then the connection closes, and
// popwire's log must name the verification failure.
func TestUpstreamWrongCA(t *testing.T) {
	t.Parallel()
	d := dovecotInstance(t)
	pw := startPopwire(t, d, popwireOpts{upstreamCA: d.wrongCA.CertPEM})
	c, err := net.DialTimeout("tcp", pw.plainAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading popwire's answer: %v (got %q)", err, line)
	}
	const prefix = "-ERR [SYS/TEMP] "
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, "\r\n") || len(strings.TrimSpace(line)) <= len(prefix) {
		t.Fatalf("client got %q, want one line %q with a reason", line, prefix+"…")
	}
	if rest, err := r.ReadString('\n'); err == nil || rest != "" {
		t.Errorf("after the refusal popwire sent %q (err %v), want the connection closed", rest, err)
	}
	pw.stop(t)
	out := pw.output()
	if !strings.Contains(out, "unknown authority") {
		t.Errorf("popwire's log does not name the verification failure (x509 unknown authority):\n%s", out)
	}
}
