package e2e

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// TestBehindHAProxy runs the PROXY protocol with real parts: HAProxy in TCP mode with
// send-proxy-v2 (and its health checks) in front of popwire's plaintext and TLS listeners
// (--proxy-protocol-trusted), popwire sending a v2 header on to Dovecot's haproxy listener
// (--upstream-proxy-protocol). curl from 127.0.0.2 (plaintext) and 127.0.0.3 (TLS) must fetch
// the mailbox byte for byte as Dovecot serves it directly; popwire's log must show each client's
// own address with HAProxy's as via, and Dovecot's log the client's address (rip).
func TestBehindHAProxy(t *testing.T) {
	t.Parallel()
	curl := needTool(t, "curl")
	haproxy := needTool(t, "/usr/sbin/haproxy", "haproxy")
	d := dovecotInstance(t)
	logStart := len(d.mainLog(t)) // Dovecot's log of this run of the test begins here (go test -count)
	pw := startPopwire(t, d, popwireOpts{upstreamPort: d.proxiedPort, logFile: true,
		args: []string{"--proxy-protocol-trusted", "127.0.0.0/8", "--upstream-proxy-protocol"}})
	localCA := popwireCA(t)
	hp := startHAProxy(t, haproxy, pw.plainAddr, pw.tlsAddr)
	plainFront, tlsFront := hp.plain, hp.tls

	want := curlFetchAs(t, curl, fmt.Sprintf("pop3s://127.0.0.1:%d", d.tlsPort), userProxied, password(userProxied), "--cacert", d.ca.CertPEM)
	for _, tc := range []struct {
		from string
		url  string
		args []string
	}{
		{"127.0.0.2", "pop3://" + plainFront, nil},
		{"127.0.0.3", "pop3s://" + tlsFront, []string{"--cacert", localCA}},
	} {
		t.Run(tc.from, func(t *testing.T) {
			got := curlFetchAs(t, curl, tc.url, userProxied, password(userProxied), append([]string{"--interface", tc.from}, tc.args...)...)
			compareOutputs(t, got, want)
		})
	}

	// Three curl runs from each address (RETR and LIST, UIDL, TOP), each one session.
	waitFor(t, "the close of the six sessions through HAProxy", func() bool {
		closed := closedByClient(t, pw.jsonLog)
		return closed["127.0.0.2"] >= 3 && closed["127.0.0.3"] >= 3
	})
	// HAProxy's health checks of the plaintext listener send a LOCAL header, closed quietly:
	// the only refusals are of the connections startPopwire made to see the listeners up.
	waitFor(t, "a health check of popwire by HAProxy", func() bool { return hp.checked(t, "popwire_plain") })
	refused := 0
	for _, e := range readEvents(t, pw.jsonLog) {
		if e.Kind == logview.KindError && strings.Contains(e.Err, "no PROXY header") {
			refused++
		}
		switch {
		case e.Kind == logview.KindOpen && e.Via == "":
			t.Errorf("session %s from %s without a load balancer", e.Session, e.Client)
		case e.Kind == logview.KindOpen && host(t, e.Via) != "127.0.0.1":
			t.Errorf("session %s came via %s, want HAProxy's 127.0.0.1", e.Session, e.Via)
		case e.Kind == logview.KindError && strings.Contains(e.Err, "bad PROXY header"):
			t.Errorf("HAProxy's header was refused: %s", e.Err)
		}
	}
	if refused != 2 {
		t.Errorf("%d connections refused for a missing PROXY header, want 2 (startPopwire's own)", refused)
	}
	if closed := closedByClient(t, pw.jsonLog); closed["127.0.0.2"] != 3 || closed["127.0.0.3"] != 3 {
		t.Errorf("sessions by client address %v, want 3 from 127.0.0.2 and 3 from 127.0.0.3", closed)
	}

	rip := regexp.MustCompile(`Login: user=<` + userProxied + `>, .*\brip=(127\.0\.0\.[0-9]+)\b`)
	logins := func() map[string]int {
		n := map[string]int{}
		for _, m := range rip.FindAllStringSubmatch(d.mainLog(t)[logStart:], -1) {
			n[m[1]]++
		}
		return n
	}
	waitFor(t, "Dovecot's logins of "+userProxied, func() bool { n := logins(); return n["127.0.0.2"] >= 3 && n["127.0.0.3"] >= 3 })
	if n := logins(); n["127.0.0.2"] != 3 || n["127.0.0.3"] != 3 {
		t.Errorf("Dovecot's logins of %s by rip: %v, want 3 from 127.0.0.2 and 3 from 127.0.0.3 (and the direct fetch's from 127.0.0.1)", userProxied, n)
	}
}

// closedByClient counts the sessions of popwire's JSON log at path that closed, by the host of
// their client address.
func closedByClient(t *testing.T, path string) map[string]int {
	t.Helper()
	clientOf := map[string]string{}
	closed := map[string]int{}
	for _, e := range readEvents(t, path) {
		switch e.Kind {
		case logview.KindOpen:
			clientOf[e.Session] = host(t, e.Client)
		case logview.KindClose:
			if c, ok := clientOf[e.Session]; ok {
				closed[c]++
			}
		}
	}
	return closed
}

// mainLog returns Dovecot's log file (without its master's output, which logText adds).
func (d *dovecot) mainLog(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(d.logPath)
	if err != nil {
		t.Fatalf("e2e: Dovecot's log: %v", err)
	}
	return string(data)
}

// host returns the host of a HOST:PORT in the log.
func host(t *testing.T, hostPort string) string {
	t.Helper()
	h, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatalf("address %q in the log: %v", hostPort, err)
	}
	return h
}

// haproxyProc is a running HAProxy.
type haproxyProc struct {
	plain, tls string // startHAProxy's frontends' addresses
	socket     string // the stats socket
}

// stat returns the row of HAProxy's `show stat` for server of backend, by column name
// (status, check_status, …), or nil when HAProxy has no such server.
func (h *haproxyProc) stat(t *testing.T, backend, server string) map[string]string {
	t.Helper()
	c, err := net.DialTimeout("unix", h.socket, 5*time.Second)
	if err != nil {
		t.Fatalf("haproxy stats socket: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("show stat\n")); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("haproxy show stat: %v", err)
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(out), "# "))).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("haproxy show stat: %v\n%s", err, out)
	}
	for _, r := range rows[1:] {
		if len(r) == len(rows[0]) && r[0] == backend && r[1] == server {
			row := map[string]string{}
			for i, name := range rows[0] {
				row[name] = r[i]
			}
			return row
		}
	}
	return nil
}

// checked reports whether HAProxy's last health check of server pw1 of backend passed (its
// check_status on the stats socket is L4OK: the connection, and its LOCAL header, went through).
func (h *haproxyProc) checked(t *testing.T, backend string) bool {
	t.Helper()
	return h.stat(t, backend, "pw1")["check_status"] == "L4OK"
}

// startHAProxy runs HAProxy in TCP mode on two new loopback ports, in front of popwire's
// plaintext and TLS listeners with send-proxy-v2 (the plaintext one health-checked, which
// sends a LOCAL header). It is stopped when the test ends.
func startHAProxy(t *testing.T, haproxy, plainBackend, tlsBackend string) *haproxyProc {
	t.Helper()
	plain, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	tlsPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	hp := runHAProxy(t, haproxy, fmt.Sprintf(`frontend plain
    bind %s
    default_backend popwire_plain
frontend tls
    bind %s
    default_backend popwire_tls
backend popwire_plain
    server pw1 %s send-proxy-v2 check inter 200ms
backend popwire_tls
    server pw1 %s send-proxy-v2
`, loopback(plain), loopback(tlsPort), plainBackend, tlsBackend))
	hp.plain, hp.tls = loopback(plain), loopback(tlsPort)
	return hp
}

// runHAProxy checks (haproxy -c) and runs HAProxy with the proxies of proxies after a global
// section with a stats socket and TCP-mode defaults, waits until its stats socket answers
// (HAProxy has bound its frontends by then: a test's probe of a frontend would be a session),
// and stops it when the test ends.
func runHAProxy(t *testing.T, haproxy, proxies string) *haproxyProc {
	t.Helper()
	dir := t.TempDir()
	hp := &haproxyProc{socket: filepath.Join(dir, "haproxy.sock")}
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`global
    maxconn 200
    stats socket %s level admin
defaults
    mode tcp
    timeout connect 5s
    timeout client 2m
    timeout server 2m
`, hp.socket)+proxies), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(30*time.Second, nil, haproxy, "-c", "-f", conf); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	logPath := filepath.Join(dir, "haproxy.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(haproxy, "-db", "-f", conf)
	cmd.Stdout, cmd.Stderr = out, out
	proc, err := startProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, killed := proc.stop(syscall.SIGTERM, 15*time.Second); killed {
			t.Error("haproxy did not stop on SIGTERM and was killed")
		}
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("--- haproxy output ---\n%s--- end ---", log)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); !hp.answers(); time.Sleep(50 * time.Millisecond) {
		if proc.exited() || time.Now().After(deadline) {
			t.Fatal("haproxy's stats socket did not answer within 20 s")
		}
	}
	return hp
}

// answers reports whether HAProxy's stats socket answers `show info`.
func (h *haproxyProc) answers() bool {
	c, err := net.DialTimeout("unix", h.socket, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "show info\n"); err != nil {
		return false
	}
	out, err := io.ReadAll(c)
	return err == nil && bytes.Contains(out, []byte("Pid:"))
}
