package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShellScript drives `popwire shell --script` against Dovecot and popwire: multi-line
// replies and a -ERR to a multi-line command end by themselves, and the password, typed
// inline or taken from POPWIRE_PASSWORD, never appears in the output.
func TestShellScript(t *testing.T) {
	d := dovecotInstance(t)
	secret := password(userDirect)
	bare := "CAPA\nUSER " + userDirect + "\nPASS\nLIST\nUIDL\nTOP 1 0\nTOP 999 0\nRETR 999\nAUTH\nQUIT\n"
	inline := "USER " + userDirect + "\nPASS " + secret + "\nLIST 1\nLIST\nQUIT\n"
	want := []string{"+OK Dovecot", "> CAPA", "PIPELINING", "> PASS [redacted]", "+OK Logged in.", "> LIST",
		". (", "> TOP 999 0", "-ERR", "> RETR 999", "-ERR", "> AUTH", "-ERR", "> QUIT", "+OK Logging out"}
	wantInline := []string{"> PASS [redacted]", "+OK Logged in.", "> LIST 1", "+OK 1 ", "> LIST", "1 ", ". (", "+OK Logging out"}
	tests := []struct {
		name   string
		args   []string
		script string
		want   []string
	}{
		{"implicit TLS, bare PASS", []string{"--upstream-ca", d.ca.CertPEM, "--upstream-name", serverName, loopback(d.tlsPort)}, bare, want},
		{"STLS, inline PASS", []string{"--starttls", "--upstream-ca", d.ca.CertPEM, "--upstream-name", serverName, loopback(d.plainPort)}, inline, wantInline},
		{"plaintext, inline PASS", []string{"--plaintext", loopback(d.plainPort)}, inline, wantInline},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "script")
			if err := os.WriteFile(path, []byte(tc.script), 0o600); err != nil {
				t.Fatal(err)
			}
			out, code := runPopwire(t, []string{"POPWIRE_PASSWORD=" + secret}, append([]string{"shell", "--script", path}, tc.args...)...)
			if code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("output lacks %q (in order)", w)
					break
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(out, secret) {
				t.Errorf("output holds the password")
			}
			if t.Failed() {
				t.Logf("popwire shell %v:\n%s", tc.args, out)
			}
		})
	}
}

// TestShellPopwire talks to popwire itself through its STLS listener, and leaves without
// QUIT at the end of the script: the reminder is printed.
func TestShellPopwire(t *testing.T) {
	d := dovecotInstance(t)
	pw := startPopwire(t, d, popwireOpts{})
	secret := password(userDirect)
	path := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(path, []byte("USER "+userDirect+"\nPASS\nUIDL\nSTAT\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runPopwire(t, []string{"POPWIRE_PASSWORD=" + secret}, "shell", "--script", path,
		"--starttls", "--upstream-ca", popwireCA(t), "--upstream-name", "localhost", pw.plainAddr)
	if code != 0 || !strings.Contains(out, "> UIDL") || !strings.Contains(out, "left without QUIT") || strings.Contains(out, secret) {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}
