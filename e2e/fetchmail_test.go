package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
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

	wantSums := fetchmailWant(d.full)
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
			checkFetchmail(t, runFetchmail(t, tc.port, userFetchmail, tc.rc, true), wantSums)
		})
	}
}

// fetchmailWant returns the sorted SHA-256 digests of msgs as fetchmail delivers them: a
// header-only message gets a blank line after it.
func fetchmailWant(msgs []message) []string {
	var want [][]byte
	for _, m := range msgs {
		w := m.served()
		if m.HeaderOnly {
			w = append(w, "\r\n"...)
		}
		want = append(want, w)
	}
	return sums(want)
}

// checkFetchmail requires the messages fetchmail delivered, its long lines unsplit, to have
// the sorted digests want (fetchmailWant).
func checkFetchmail(t *testing.T, delivered [][]byte, want []string) {
	t.Helper()
	var got [][]byte
	for _, m := range delivered {
		got = append(got, fetchmailUnsplit(m))
	}
	if g := sums(got); !slices.Equal(g, want) {
		t.Errorf("fetchmail delivered sha256 %v, want %v", short(g), short(want))
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

// runFetchmail runs one fetchmail pass as user against 127.0.0.1:port (see fetchmailArgs), with
// more command-line options in flags, and returns the delivered messages.
func runFetchmail(t *testing.T, port int, user, rcOpts string, keep bool, flags ...string) [][]byte {
	t.Helper()
	dir := t.TempDir()
	env, args := fetchmailArgs(t, dir, port, user, rcOpts, keep)
	args = append(args, flags...)
	if log, err := runCmd(3*time.Minute, env, "fetchmail", args...); err != nil {
		t.Fatalf("fetchmail to port %d: %v\n%s", port, err, log)
	}
	var msgs [][]byte
	for _, data := range readOutputs(t, filepath.Join(dir, "out")) {
		msgs = append(msgs, data)
	}
	return msgs
}

// fetchmailArgs prepares one fetchmail pass in dir as user against 127.0.0.1:port with the
// server options in rcOpts, delivering each message to its own file in dir/out through an MDA
// that alters nothing (no Received line, no address rewriting, CRs kept). The pass asks UIDL
// (so popwire learns UIDs), and with keep false it deletes what it fetched. Its lock file is in
// dir too: as root, fetchmail would otherwise lock /var/run/fetchmail.pid whatever
// FETCHMAILHOME says, and refuse to run beside another pass. It returns the environment and the
// arguments to run fetchmail with.
func fetchmailArgs(t *testing.T, dir string, port int, user, rcOpts string, keep bool) (env, args []string) {
	t.Helper()
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
	env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
	return env, []string{"-f", rcPath, "--pidfile", filepath.Join(dir, "fetchmail.pid"), "-v", "--nosyslog"}
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

// TestFetchmailBeside runs a fetchmail pass while another fetchmail of the run is still
// connected, as parallel tests do: each pass must keep its own lock file (as root, fetchmail's
// default is /var/run/fetchmail.pid whatever FETCHMAILHOME says, and a second one refuses to
// run).
func TestFetchmailBeside(t *testing.T) {
	t.Parallel()
	needTool(t, "fetchmail")
	d := dovecotInstance(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	env, args := fetchmailArgs(t, t.TempDir(), l.Addr().(*net.TCPAddr).Port, userBeside, plainRC, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := exec.CommandContext(ctx, "fetchmail", args...)
	first.Env = env
	first.WaitDelay = 5 * time.Second
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// The first pass holds its lock from start until it exits, which it does once its silent
	// server closes the connection: its error is the point of it.
	defer func() { _ = first.Wait() }()
	if err := l.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	conn, err := l.Accept()
	if err != nil {
		t.Fatalf("the first fetchmail did not connect: %v", err)
	}
	defer conn.Close()

	got := runFetchmail(t, d.plainPort, userBeside, plainRC, true)
	var want [][]byte
	for _, m := range d.small {
		want = append(want, m.served())
	}
	if g, w := sums(got), sums(want); !slices.Equal(g, w) {
		t.Errorf("fetchmail delivered sha256 %v, want %v", short(g), short(w))
	}
}
