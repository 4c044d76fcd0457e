package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// TestConfigReload runs serve --config, rewrites the file while a session is in flight (a
// route added, one removed, the upstream of the kept route changed, its certificate replaced)
// and sends SIGHUP: the session in flight finishes on its old upstream, new sessions use the
// new one and the new certificate, the added listener answers and the removed one refuses. A
// broken file is then refused with an error event, and the configuration keeps serving.
func TestConfigReload(t *testing.T) {
	t.Parallel()
	d := dovecotInstance(t)
	dir := t.TempDir()
	caOld, err := newTestCA(dir, "ca-old", "popwire reload test CA (old)")
	if err != nil {
		t.Fatal(err)
	}
	caNew, err := newTestCA(dir, "ca-new", "popwire reload test CA (new)")
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, err := caOld.issueServer(dir, "client-leg")
	if err != nil {
		t.Fatal(err)
	}
	var ports [4]int
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			t.Fatal(err)
		}
	}
	plain, tlsAddr, removed, added := loopback(ports[0]), loopback(ports[1]), loopback(ports[2]), loopback(ports[3])
	jsonLog := filepath.Join(dir, "popwire.jsonl")
	oldUpstream, newUpstream := loopback(d.tlsPort), loopback(d.plainPort)
	route := func(name, upstream, mode string, listen ...string) string {
		s := fmt.Sprintf("  - name: %s\n    listen:\n", name)
		for _, l := range listen {
			s += fmt.Sprintf("      - {address: %q, tls: %v}\n", l, l == tlsAddr)
		}
		return s + fmt.Sprintf("    upstream: {address: %q, tls: %s}\n", upstream, mode)
	}
	head := fmt.Sprintf("log: {file: %q, format: text, color: never}\nshutdown_timeout: 5s\nupstream: {ca: [%q], name: %s}\ntls: {cert: %q, key: %q}\nroutes:\n",
		jsonLog, d.ca.CertPEM, serverName, certPath, keyPath)
	path := filepath.Join(dir, "popwire.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(head + route("kept", oldUpstream, "implicit", plain, tlsAddr) + route("gone", oldUpstream, "implicit", removed))
	if out, code := runPopwire(t, nil, "config", "check", path); code != 0 {
		t.Fatalf("config check: exit %d\n%s", code, out)
	}

	pw := startPopwireConfig(t, path, jsonLog)
	alive := func() bool { return !pw.proc.exited() }
	for _, addr := range []string{plain, tlsAddr, removed} {
		if err := waitPort(addr, 30*time.Second, alive); err != nil {
			t.Fatal(err)
		}
	}

	inflight, err := dialPOP(plain, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := inflight.login(userReload); err != nil {
		t.Fatal(err)
	}

	write(head + route("kept", newUpstream, "starttls", plain, tlsAddr) + route("added", newUpstream, "starttls", added))
	if _, _, err := caNew.issueServer(dir, "client-leg"); err != nil { // the same files, a new certificate
		t.Fatal(err)
	}
	if err := pw.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload event", func() bool { return logHas(jsonLog, logview.KindReload, "") })

	if list, err := inflight.multi("LIST"); err != nil || len(list) == 0 {
		t.Fatalf("in-flight LIST after the reload: %q, %v", list, err)
	}
	if err := inflight.quit(); err != nil {
		t.Fatalf("in-flight QUIT after the reload: %v", err)
	}
	after, err := dialPOP(plain, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := after.login(userReload); err != nil {
		t.Fatal(err)
	}
	if err := after.quit(); err != nil {
		t.Fatal(err)
	}
	if c, err := dialPOP(tlsAddr, caNew.CertPEM, serverName); err != nil {
		t.Errorf("the TLS listener after the reload, verified with the new CA: %v", err)
	} else {
		c.quit()
	}
	if c, err := dialPOP(tlsAddr, caOld.CertPEM, serverName); err == nil {
		c.quit()
		t.Error("the TLS listener still presents the old certificate")
	}
	if c, err := dialPOP(added, "", ""); err != nil {
		t.Errorf("the added listener: %v", err)
	} else {
		c.quit()
	}
	if c, err := net.DialTimeout("tcp", removed, 5*time.Second); err == nil {
		c.Close()
		t.Error("the removed listener still accepts")
	}
	waitFor(t, "both sessions' close events", func() bool { return closeEvents(jsonLog) >= 2 })
	if got := upstreamsOf(t, jsonLog, userReload); !slices.Equal(got, []string{oldUpstream, newUpstream}) {
		t.Errorf("the sessions of %s went to %q, want the in-flight one to %s and the new one to %s", userReload, got, oldUpstream, newUpstream)
	}

	write("routes: [\n")
	if err := pw.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused reload's error event", func() bool { return logHas(jsonLog, logview.KindError, "reload refused") })
	c, err := dialPOP(plain, "", "")
	if err != nil {
		t.Fatalf("after a refused reload: %v", err)
	}
	if err := c.quit(); err != nil {
		t.Fatal(err)
	}
}

// logHas reports whether the JSON log at path holds an event of kind whose text or error
// contains text.
func logHas(path string, kind logview.Kind, text string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, `"kind":"`+string(kind)+`"`) && strings.Contains(line, text) {
			return true
		}
	}
	return false
}

// upstreamsOf returns the upstream of each session of user in the JSON log, in order.
func upstreamsOf(t *testing.T, path, user string) []string {
	t.Helper()
	events := readEvents(t, path)
	ids := map[string]bool{}
	for _, e := range events {
		if e.User == user {
			ids[e.Session] = true
		}
	}
	var ups []string
	for _, e := range events {
		if e.Kind == logview.KindOpen && ids[e.Session] {
			ups = append(ups, e.Upstream)
		}
	}
	return ups
}
