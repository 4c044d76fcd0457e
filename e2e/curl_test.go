package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestCurl fetches every message, LIST, UIDL and `TOP 1 0` with curl directly from Dovecot and
// through popwire (plaintext, STLS answered by popwire, implicit TLS), and requires the same
// bytes each way, and each message equal to what Dovecot stores.
func TestCurl(t *testing.T) {
	t.Parallel()
	curl := needTool(t, "curl")
	d := dovecotInstance(t)
	pw := startPopwire(t, d, popwireOpts{})
	localCA := popwireCA(t)

	want := curlFetch(t, curl, fmt.Sprintf("pop3s://127.0.0.1:%d", d.tlsPort), "--cacert", d.ca.CertPEM)
	checkMailbox(t, "direct: curl", want, d.full)
	for _, tc := range []struct {
		name string
		url  string
		args []string
	}{
		{"plain", "pop3://" + pw.plainAddr, nil},
		{"stls", "pop3://" + pw.plainAddr, []string{"--ssl-reqd", "--cacert", localCA}},
		{"tls", "pop3s://" + pw.tlsAddr, []string{"--cacert", localCA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := curlFetch(t, curl, tc.url, tc.args...)
			compareOutputs(t, got, want)
		})
	}
}

// curlFetch runs curl against base (scheme://host:port) as userCurl and returns its outputs by
// name: retrN for each message, list, uidl and top1.
func curlFetch(t *testing.T, curl, base string, extra ...string) map[string][]byte {
	t.Helper()
	return curlFetchAs(t, curl, base, userCurl, password(userCurl), extra...)
}

// curlFetchAs is curlFetch logging in as user with pass.
func curlFetchAs(t *testing.T, curl, base, user, pass string, extra ...string) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	common := append([]string{"-sS", "--max-time", "120", "--user", user + ":" + pass}, extra...)
	n := len(fullMailbox())

	retr := append([]string{}, common...)
	for i := 1; i <= n; i++ {
		retr = append(retr, fmt.Sprintf("%s/%d", base, i), "-o", filepath.Join(dir, fmt.Sprintf("retr%d", i)))
	}
	retr = append(retr, base+"/", "-o", filepath.Join(dir, "list")) // an empty path is LIST
	runCurl(t, curl, retr)
	runCurl(t, curl, append(append([]string{}, common...), "-X", "UIDL", base+"/", "-o", filepath.Join(dir, "uidl")))
	runCurl(t, curl, append(append([]string{}, common...), "-X", "TOP 1 0", base+"/", "-o", filepath.Join(dir, "top1")))

	out := readOutputs(t, dir)
	if len(out) != n+3 {
		t.Fatalf("curl %s wrote %d outputs, want %d", base, len(out), n+3)
	}
	return out
}

func runCurl(t *testing.T, curl string, args []string) {
	t.Helper()
	if out, err := runCmd(3*time.Minute, nil, curl, args...); err != nil {
		t.Fatalf("curl %v: %v\n%s", redactArgs(args), err, out)
	}
}

// redactArgs hides the --user value in a command line shown in a failure message.
func redactArgs(args []string) []string {
	out := append([]string{}, args...)
	for i := range out {
		if out[i] == "--user" && i+1 < len(out) {
			out[i+1] = "(user:password)"
		}
	}
	return out
}

// checkMailbox requires the outputs retr1… of a client (who) to be msgs as Dovecot serves them,
// byte-exact by SHA-256.
func checkMailbox(t *testing.T, who string, got map[string][]byte, msgs []message) {
	t.Helper()
	for i, m := range msgs {
		if b := got[fmt.Sprintf("retr%d", i+1)]; sum(b) != sum(m.served()) {
			t.Errorf("%s: RETR %d (%s) got %d bytes, Dovecot stores %d", who, i+1, m.Name, len(b), len(m.served()))
		}
	}
}

// compareOutputs requires got to hold exactly the outputs of want, byte-exact by SHA-256.
func compareOutputs(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: missing", name)
		case sum(g) != sum(w):
			t.Errorf("%s: %d bytes sha256 %.12s, direct from Dovecot %d bytes sha256 %.12s", name, len(g), sum(g), len(w), sum(w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unexpected output", name)
		}
	}
}
