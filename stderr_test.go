package main

import (
	"bytes"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/testpki"
)

// TestErrorLineSanitised has the shell fail verification against a server whose certificate
// issuer holds bidirectional and C1 controls: the error line on stderr names the issuer with
// each of them shown as U+FFFD.
func TestErrorLineSanitised(t *testing.T) {
	ca, err := testpki.NewCA("evil\u202egnp.exe\u2066\u009b2J", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.Self()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go handshakeEach(ln)
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("QUIT\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"popwire", "shell", "--script", script, "--color", "never", ln.Addr().String()}, &out, &errb)
	line := errb.String()
	if code != 1 || !strings.Contains(line, "issuer: CN=evil\uFFFDgnp.exe\uFFFD\uFFFD2J") {
		t.Fatalf("code %d, want 1 and the issuer shown neutralised\nstdout %q\nstderr %q", code, out.String(), line)
	}
	for _, bad := range []string{"\u202e", "\u2066", "\u009b"} {
		if strings.Contains(line, bad) {
			t.Errorf("stderr holds %q: %q", bad, line)
		}
	}
}

// handshakeEach runs the TLS handshake on every connection ln accepts, then closes it.
func handshakeEach(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.(*tls.Conn).Handshake()
		c.Close()
	}
}
