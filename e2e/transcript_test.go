package e2e

import (
	"bytes"
	"fmt"
	"testing"
)

// TestTranscript sends one command sequence directly to Dovecot's TLS port and through each of
// popwire's listeners and requires every byte the server side sent to be identical: the
// greeting, single-line replies, -ERR replies and dot-stuffed bodies (RFC 1939 §3) are forwarded
// unchanged when no CAPA is asked.
func TestTranscript(t *testing.T) {
	t.Parallel()
	d := dovecotInstance(t)
	pw := startPopwire(t, d, popwireOpts{})
	localCA := popwireCA(t)

	want := transcript(t, loopback(d.tlsPort), d.ca.CertPEM, serverName, len(d.full))
	for _, tc := range []struct {
		name, addr, ca string
	}{
		{"plain", pw.plainAddr, ""},
		{"tls", pw.tlsAddr, localCA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := transcript(t, tc.addr, tc.ca, "localhost", len(d.full))
			if !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Fatalf("server bytes differ at offset %d: through popwire %d bytes, direct %d; near %q vs %q",
					i, len(got), len(want), got[max(0, i-40):min(len(got), i+40)], want[max(0, i-40):min(len(want), i+40)])
			}
		})
	}
}

// transcript runs the fixed command sequence as userDirect and returns every byte received.
func transcript(t *testing.T, addr, ca, name string, n int) []byte {
	t.Helper()
	p, err := dialPOP(addr, ca, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.login(userDirect); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		cmd   string
		multi bool
		err   bool
	}{
		{"STAT", false, false}, {"LIST", true, false}, {"UIDL", true, false},
		{"LIST 2", false, false}, {"UIDL 4", false, false}, {"NOOP", false, false},
		{"TOP 1 0", true, false}, {"TOP 4 3", true, false}, {"RETR 99", false, true},
		{"XFOO bar", false, true},
	}
	for i := 1; i <= n; i++ {
		steps = append(steps, struct {
			cmd   string
			multi bool
			err   bool
		}{fmt.Sprintf("RETR %d", i), true, false})
	}
	for _, s := range steps {
		var err error
		if s.multi {
			_, err = p.multi("%s", s.cmd)
		} else {
			_, err = p.cmd("%s", s.cmd)
		}
		if (err != nil) != s.err {
			t.Fatalf("%s via %s: %v", s.cmd, addr, err)
		}
	}
	if err := p.quit(); err != nil {
		t.Fatal(err)
	}
	return p.raw.Bytes()
}
