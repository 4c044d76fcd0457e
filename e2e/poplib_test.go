package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPoplib fetches the mailbox with Python's poplib directly from Dovecot (POP3_SSL) and
// through popwire (POP3 + stls() on the plaintext port, POP3_SSL on the TLS port) and requires
// identical bytes, each message equal to what Dovecot stores.
func TestPoplib(t *testing.T) {
	t.Parallel()
	py := python(t)
	d := dovecotInstance(t)
	pw := startPopwire(t, d, popwireOpts{})
	localCA := popwireCA(t)

	want := poplibFetch(t, py, "ssl", d.tlsPort, d.ca.CertPEM, userPoplib)
	if len(want) != len(d.full)+3 {
		t.Fatalf("direct: %d outputs, want %d", len(want), len(d.full)+3)
	}
	checkMailbox(t, "direct: poplib", want, d.full)
	for _, tc := range []struct {
		mode string
		port int
	}{
		{"stls", pw.plainPort},
		{"ssl", pw.tlsPort},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			compareOutputs(t, poplibFetch(t, py, tc.mode, tc.port, localCA, userPoplib), want)
		})
	}
}

// poplibFetch runs testdata/poplib_fetch.py and returns its outputs by file name.
func poplibFetch(t *testing.T, py, mode string, port int, ca, user string) map[string][]byte {
	t.Helper()
	return poplibFetchEnv(t, py, mode, port, ca, user, "POP_PASSWORD="+password(user))
}

// poplibFetchFrom is poplibFetch connecting from the local address source ("" lets the system
// choose).
func poplibFetchFrom(t *testing.T, py, source, mode string, port int, ca, user string) map[string][]byte {
	t.Helper()
	return poplibFetchEnv(t, py, mode, port, ca, user, "POP_PASSWORD="+password(user), "POP_SOURCE_ADDRESS="+source)
}

// poplibFetchEnv is poplibFetch with the login given by env (POP_PASSWORD, or POP_SASL and
// POP_TOKEN) and POP_SOURCE_ADDRESS, the local address to connect from.
func poplibFetchEnv(t *testing.T, py, mode string, port int, ca, user string, env ...string) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	out, err := runCmd(3*time.Minute, append(os.Environ(), env...), py, poplibScript(t), mode, "127.0.0.1", fmt.Sprint(port), ca, user, dir)
	if err != nil {
		t.Fatalf("poplib %s to port %d: %v\n%s", mode, port, err, out)
	}
	return readOutputs(t, dir)
}

// poplibScript returns the absolute path of testdata/poplib_fetch.py.
func poplibScript(t *testing.T) string {
	t.Helper()
	script, err := filepath.Abs("testdata/poplib_fetch.py")
	if err != nil {
		t.Fatal(err)
	}
	return script
}

// readOutputs returns every file of dir by name.
func readOutputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = data
	}
	return out
}
