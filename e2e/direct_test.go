package e2e

import (
	"fmt"
	"testing"
)

// TestDovecotDirect checks the harness itself: the private Dovecot serves every stored message
// as RFC 1939 says (CRLF line endings, a final CRLF added), over implicit TLS and plaintext.
func TestDovecotDirect(t *testing.T) {
	d := dovecotInstance(t)
	for _, tc := range []struct {
		name string
		port int
		ca   string
	}{
		{"tls", d.tlsPort, d.ca.CertPEM},
		{"plain", d.plainPort, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := dialPOP(loopback(tc.port), tc.ca, serverName)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.login(userDirect); err != nil {
				t.Fatal(err)
			}
			stat, err := p.cmd("STAT")
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("+OK %d ", len(d.full)); len(stat) < len(want) || stat[:len(want)] != want {
				t.Fatalf("STAT = %q, want prefix %q", stat, want)
			}
			for i, m := range d.full {
				got, err := p.multi("RETR %d", i+1)
				if err != nil {
					t.Fatal(err)
				}
				if sum(got) != sum(m.served()) {
					t.Errorf("RETR %d (%s): %d bytes sha256 %s, want %d bytes sha256 %s",
						i+1, m.Name, len(got), sum(got)[:12], len(m.served()), sum(m.served())[:12])
				}
			}
			if err := p.quit(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
