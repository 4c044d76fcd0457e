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
	bin := popwireBinary(t)
	ca := popwireCA(t)
	plain, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	tlsPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "demo", "--listen", loopback(plain), "--listen-tls", loopback(tlsPort), "--color", "never")
	cmd.Env = popwireEnv()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	proc, err := startProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err, killed := proc.stop(syscall.SIGINT, 20*time.Second); err != nil || killed {
			t.Errorf("popwire demo after Ctrl-C: %v (killed %v), want exit status 0", err, killed)
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("--- demo stdout ---\n%s--- demo stderr ---\n%s--- end ---", stdout.String(), stderr.String())
		}
	})
	alive := func() bool { return !proc.exited() }
	for _, addr := range []string{loopback(plain), loopback(tlsPort)} {
		if err := waitPort(addr, 30*time.Second, alive); err != nil {
			t.Fatal(err)
		}
	}

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
