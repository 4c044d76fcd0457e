package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runPopwire runs the popwire binary with args and extra environment entries and returns its
// combined output and exit status.
func runPopwire(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	out, err := runCmd(60*time.Second, append(popwireEnv(), env...), popwireBinary(t), args...)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("popwire %v: %v\n%s", args, err, out)
	return "", -1
}

// TestProbeDovecot probes the private Dovecot in every way the issue lists and checks the
// verdict, the exit status and the hint of each.
func TestProbeDovecot(t *testing.T) {
	d := dovecotInstance(t)
	closed, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	pw := "POPWIRE_PASSWORD=" + password(userDirect)
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want []string // substrings of the output
	}{
		{
			name: "good CA, implicit TLS, login",
			env:  []string{pw},
			args: []string{"--upstream-ca", d.ca.CertPEM, "--upstream-name", serverName, "--user", userDirect, loopback(d.tlsPort)},
			want: []string{"✓ tls", "certificate verified", "SNI " + serverName, "names: " + serverName, "✓ greeting", "+OK Dovecot",
				"no APOP timestamp", "PIPELINING — several commands", "✓ login", "with AUTH PLAIN", "✓ stat", "messages", "✓ quit", "every step passed"},
		},
		{
			name: "good CA, STLS, USER/PASS",
			env:  []string{pw},
			args: []string{"--starttls", "--auth", "user", "--upstream-ca", d.ca.CertPEM, "--upstream-name", serverName, "--user", userDirect, loopback(d.plainPort)},
			want: []string{"✓ greeting", "✓ stls", "+OK Begin TLS", "✓ tls", "✓ login", "USER/PASS", "✓ quit", "every step passed"},
		},
		{
			name: "wrong CA",
			args: []string{"--upstream-ca", d.wrongCA.CertPEM, "--upstream-name", serverName, loopback(d.tlsPort)},
			code: 1,
			want: []string{"✗ tls", "unknown authority", "--upstream-ca FILE"},
		},
		{
			name: "wrong name",
			args: []string{"--upstream-ca", d.ca.CertPEM, "--upstream-name", "pop.wrong.test", loopback(d.tlsPort)},
			code: 1,
			want: []string{"✗ tls", "not valid for pop.wrong.test", serverName, "--upstream-name"},
		},
		{
			name: "TLS on the STLS port",
			args: []string{"--upstream-ca", d.ca.CertPEM, "--upstream-name", serverName, loopback(d.plainPort)},
			code: 1,
			want: []string{"✗ tls", "plaintext POP3", "add --starttls"},
		},
		{
			name: "STLS on the implicit-TLS port",
			args: []string{"--starttls", "--timeout", "2s", "--upstream-ca", d.ca.CertPEM, "--upstream-name", serverName, loopback(d.tlsPort)},
			code: 1,
			want: []string{"✗ greeting", "implicit-TLS port", "drop --starttls"},
		},
		{
			name: "closed port",
			args: []string{loopback(closed)},
			code: 1,
			want: []string{"✗ connect", "connection refused"},
		},
		{
			name: "flags after the server",
			env:  []string{pw},
			args: []string{loopback(d.tlsPort), "--upstream-ca", d.ca.CertPEM, "--upstream-name=" + serverName, "--user", userDirect},
			want: []string{"✓ tls", "certificate verified", "✓ login", "✓ quit", "every step passed"},
		},
		{
			name: "--insecure-skip-verify after the server",
			args: []string{loopback(d.tlsPort), "--insecure-skip-verify", "--upstream-name", serverName},
			want: []string{"✓ tls", "verification is off; with it on the handshake would fail", "✓ greeting", "every step passed"},
		},
		{
			name: "a flag after -- is an argument",
			args: []string{loopback(d.tlsPort), "--", "--insecure-skip-verify"},
			code: 2,
			want: []string{"probe takes at most one HOST:PORT (got 2 arguments)"},
		},
		{
			name: "bad credentials",
			env:  []string{"POPWIRE_PASSWORD=not-the-password"},
			args: []string{"--upstream-ca", d.ca.CertPEM, "--upstream-name", serverName, "--user", userDirect, loopback(d.tlsPort)},
			code: 1,
			want: []string{"✗ login", "-ERR [AUTH]", "check the user name and the password", "✓ quit"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, code := runPopwire(t, tc.env, append([]string{"probe"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit status %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if strings.Contains(out, password(userDirect)) {
				t.Errorf("output holds the password")
			}
			if t.Failed() {
				t.Logf("popwire probe %v:\n%s", tc.args, out)
			}
		})
	}
}

// TestProbeJSON checks the JSON report of a good probe and that it never holds the password.
func TestProbeJSON(t *testing.T) {
	d := dovecotInstance(t)
	out, code := runPopwire(t, []string{"POPWIRE_PASSWORD=" + password(userDirect)}, "probe", "--json",
		"--upstream-ca", d.ca.CertPEM, "--upstream-name", serverName, "--user", userDirect, loopback(d.tlsPort))
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, out)
	}
	if strings.Contains(out, password(userDirect)) {
		t.Fatalf("JSON holds the password:\n%s", out)
	}
	var r struct {
		OK    bool `json:"ok"`
		Steps []struct {
			Step string `json:"step"`
			OK   bool   `json:"ok"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var names []string
	for _, s := range r.Steps {
		names = append(names, s.Step)
	}
	if want := "dns connect tls greeting capa login stat quit"; !r.OK || strings.Join(names, " ") != want {
		t.Errorf("ok %v, steps %q; want ok and %q", r.OK, names, want)
	}
}

// TestProbePopwire probes popwire itself, both listeners, in front of Dovecot.
func TestProbePopwire(t *testing.T) {
	d := dovecotInstance(t)
	pw := startPopwire(t, d, popwireOpts{})
	ca := popwireCA(t)
	env := []string{"POPWIRE_PASSWORD=" + password(userDirect)}
	for _, args := range [][]string{
		{"--upstream-ca", ca, "--upstream-name", "localhost", "--user", userDirect, pw.tlsAddr},
		{"--starttls", "--upstream-ca", ca, "--upstream-name", "localhost", "--user", userDirect, pw.plainAddr},
	} {
		out, code := runPopwire(t, env, append([]string{"probe"}, args...)...)
		if code != 0 || !strings.Contains(out, "every step passed") || strings.Contains(out, password(userDirect)) {
			t.Errorf("popwire probe %v: exit %d\n%s", args, code, out)
		}
	}
}
