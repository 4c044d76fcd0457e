package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestFetchmail runs fetchmail --keep directly against Dovecot and through popwire (its
// plaintext port, and its TLS port verifying popwire's local CA) and requires every message to
// arrive as Dovecot stores it, after undoing fetchmail's own documented alterations.
func TestFetchmail(t *testing.T) {
	t.Parallel()
	needTool(t, "fetchmail")
	d := dovecotInstance(t)
	pw := startPopwire(t, d, popwireOpts{})
	localCA := popwireCA(t)

	var want [][]byte
	for _, m := range d.full {
		w := m.served()
		if m.HeaderOnly {
			w = append(w, "\r\n"...) // fetchmail adds a blank line after a header-only message
		}
		want = append(want, w)
	}
	wantSums := sums(want)
	for _, tc := range []struct {
		name string
		port int
		rc   string
	}{
		{"direct", d.plainPort, plainRC},
		{"plain", pw.plainPort, plainRC},
		{"tls", pw.tlsPort, fmt.Sprintf("ssl sslcertck sslcertfile %q sslcommonname localhost", localCA)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]byte
			for _, m := range runFetchmail(t, tc.port, userFetchmail, tc.rc, true) {
				got = append(got, fetchmailUnsplit(m))
			}
			if g := sums(got); strings.Join(g, " ") != strings.Join(wantSums, " ") {
				t.Errorf("fetchmail delivered sha256 %v, want %v", short(g), short(wantSums))
			}
		})
	}
}

// fetchmailSplit is the length of the pieces fetchmail 6.4 cuts an over-long line into; after
// each piece it writes two bytes of stale buffer memory and a CRLF.
const fetchmailSplit = 8191

// fetchmailUnsplit undoes fetchmail's splitting of long lines: a line of exactly
// fetchmailSplit+2 bytes before its CRLF is a piece; its last two bytes and the CRLF are
// dropped. No line of the test mailbox has that length by itself.
func fetchmailUnsplit(data []byte) []byte {
	var out []byte
	for len(data) > 0 {
		i := bytes.Index(data, []byte("\r\n"))
		if i < 0 {
			return append(out, data...)
		}
		if i == fetchmailSplit+2 {
			out = append(out, data[:fetchmailSplit]...)
		} else {
			out = append(out, data[:i+2]...)
		}
		data = data[i+2:]
	}
	return out
}

// plainRC is the fetchmail 6.4 server option that allows a plaintext connection.
const plainRC = "sslproto '' no sslcertck"

// runFetchmail runs one fetchmail pass as user against 127.0.0.1:port with the server options
// in rcOpts, delivering each message to its own file through an MDA that alters nothing (no
// Received line, no address rewriting, CRs kept). It asks UIDL (so popwire learns UIDs), and
// with keep false it deletes what it fetched.
// It returns the delivered messages.
func runFetchmail(t *testing.T, port int, user, rcOpts string, keep bool) [][]byte {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	keepOpt := "no keep"
	if keep {
		keepOpt = "keep"
	}
	rc := fmt.Sprintf(`set no bouncemail
set no syslog
set invisible
poll 127.0.0.1 service %d protocol pop3 auth password timeout 120 uidl
  user %q there with password %q is "e2e" here
  %s %s fetchall no rewrite no stripcr
  mda "cat > $(mktemp %s/m.XXXXXXXX)"
`, port, user, password(user), rcOpts, keepOpt, out)
	rcPath := filepath.Join(dir, "fetchmailrc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
	if log, err := runCmd(3*time.Minute, env, "fetchmail", "-f", rcPath, "-v", "--nosyslog"); err != nil {
		t.Fatalf("fetchmail to port %d: %v\n%s", port, err, log)
	}
	var msgs [][]byte
	for _, data := range readOutputs(t, out) {
		msgs = append(msgs, data)
	}
	return msgs
}

// sums returns the sorted SHA-256 digests of msgs.
func sums(msgs [][]byte) []string {
	s := make([]string, len(msgs))
	for i, m := range msgs {
		s[i] = sum(m)
	}
	sort.Strings(s)
	return s
}

// short abbreviates digests for failure messages.
func short(digests []string) []string {
	s := make([]string, len(digests))
	for i, d := range digests {
		s[i] = d[:12]
	}
	return s
}
