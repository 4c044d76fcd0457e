package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/popserver"
)

// TestDemo runs `popwire demo` as a newcomer would, fetches every sample message with Python's
// poplib through popwire's plaintext port upgraded with STLS, checks each arrived byte-exact,
// and checks the live transcript: every command, the redacted password, the per-message audit
// and the committed close, with no credential in it.
func TestDemo(t *testing.T) {
	t.Parallel()
	py := python(t)
	ca := popwireCA(t)
	d := startDemo(t)
	plain := d.plain
	dir := t.TempDir()
	stdout, stderr, stop := &d.stdout, &d.stderr, d.stop

	script, err := filepath.Abs("testdata/poplib_fetch.py")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "POP_PASSWORD=demo")
	if out, err := runCmd(time.Minute, env, py, script, "stls", "127.0.0.1", fmt.Sprint(plain), ca, "demo", dir); err != nil {
		t.Fatalf("poplib through the demo: %v\n%s", err, out)
	}
	got := readOutputs(t, dir)
	sample := popserver.SampleMailbox()
	for i, m := range sample {
		name := fmt.Sprintf("retr%d", i+1)
		if sum(got[name]) != sum(m.Data) {
			t.Errorf("message %d (%s) arrived with sha256 %s, want %s", i+1, m.UID, sum(got[name])[:12], sum(m.Data)[:12])
		}
	}
	stop()

	help := stdout.String()
	for _, want := range []string{"curl pop3://demo:demo@" + loopback(plain), "python3 -c", "openssl s_client", "demo stopped"} {
		if !strings.Contains(help, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	transcript := stderr.String()
	wants := []string{"↩ STLS  (not forwarded)", "answered by popwire", "TLS client leg", "→ USER demo", "→ PASS [redacted]",
		"→ STAT", "→ UIDL", "→ TOP 1 0", "→ QUIT", "committed"}
	for i, m := range sample {
		wants = append(wants, fmt.Sprintf("→ RETR %d", i+1), fmt.Sprintf("msg %d sha256 %s", i+1, sum(m.Data)[:12]))
	}
	for _, want := range wants {
		if !strings.Contains(transcript, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	if strings.Contains(transcript, "PASS demo") || strings.Contains(transcript, "ZGVtbw") {
		t.Errorf("transcript holds the password:\n%s", transcript)
	}
}

// demoRun is a running `popwire demo`.
type demoRun struct {
	plain, tls     int
	stdout, stderr bytes.Buffer
	stop           func() // Ctrl-C, and the exit status must be 0; idempotent
}

// startDemo starts `popwire demo` with args on free loopback ports and waits for its
// listeners; the test's cleanup stops it.
func startDemo(t *testing.T, args ...string) *demoRun {
	t.Helper()
	bin := popwireBinary(t)
	plain, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	tlsPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	d := &demoRun{plain: plain, tls: tlsPort}
	cmd := exec.Command(bin, append([]string{"demo", "--listen", loopback(plain), "--listen-tls", loopback(tlsPort), "--color", "never"}, args...)...)
	cmd.Env = popwireEnv()
	cmd.Stdout, cmd.Stderr = &d.stdout, &d.stderr
	proc, err := startProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	d.stop = func() {
		if stopped {
			return
		}
		stopped = true
		if err, killed := proc.stop(syscall.SIGINT, 20*time.Second); err != nil || killed {
			t.Errorf("popwire demo after Ctrl-C: %v (killed %v), want exit status 0", err, killed)
		}
	}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("--- demo stdout ---\n%s--- demo stderr ---\n%s--- end ---", d.stdout.String(), d.stderr.String())
		}
	})
	alive := func() bool { return !proc.exited() }
	for _, addr := range []string{loopback(plain), loopback(tlsPort)} {
		if err := waitPort(addr, 30*time.Second, alive); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// TestDemoOAuth runs `popwire demo --oauth`: poplib logs in with USER/PASS over the implicit-TLS
// port, popwire logs in to the embedded server with XOAUTH2 in the two-step form, and every
// message arrives byte-exact; the transcript shows the bridge step and the redacted password,
// never the token.
func TestDemoOAuth(t *testing.T) {
	t.Parallel()
	py := python(t)
	ca := popwireCA(t)
	d := startDemo(t, "--oauth")
	dir := t.TempDir()
	script, err := filepath.Abs("testdata/poplib_fetch.py")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "POP_PASSWORD=demo")
	if out, err := runCmd(time.Minute, env, py, script, "ssl", "127.0.0.1", fmt.Sprint(d.tls), ca, "demo", dir); err != nil {
		t.Fatalf("poplib through the demo: %v\n%s", err, out)
	}
	got := readOutputs(t, dir)
	for i, m := range popserver.SampleMailbox() {
		if name := fmt.Sprintf("retr%d", i+1); !bytes.Equal(got[name], m.Data) {
			t.Errorf("message %d (%s) arrived with sha256 %s, want %s", i+1, m.UID, sum(got[name])[:12], sum(m.Data)[:12])
		}
	}
	env = append(os.Environ(), "POP_PASSWORD=not-the-local-password")
	if out, err := runCmd(time.Minute, env, py, script, "ssl", "127.0.0.1", fmt.Sprint(d.tls), ca, "demo", t.TempDir()); err == nil ||
		!strings.Contains(string(out), "wrong password for this account") {
		t.Errorf("poplib with a wrong local password: %v\n%s", err, out)
	}
	d.stop()
	if help := d.stdout.String(); !strings.Contains(help, "USER demo and PASS demo") {
		t.Errorf("demo output does not say how to log in:\n%s", help)
	}
	transcript := d.stderr.String()
	for _, want := range []string{"↩ USER demo", "↩ PASS [redacted]", "policy oauth", "AUTH XOAUTH2 sent upstream in the two-step form",
		"+OK Logged in.", "wrong password for this account", "→ RETR 1", "committed"} {
		if !strings.Contains(transcript, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	for _, secret := range []string{"PASS demo", "ZGVtbw", "auth=Bearer", "dXNlcj1kZW1v"} {
		if strings.Contains(transcript, secret) {
			t.Errorf("transcript holds %q:\n%s", secret, transcript)
		}
	}
}
