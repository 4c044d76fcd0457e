package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// haproxyConfig is a TCP-mode HAProxy in front of two popwire processes, each checked with
// `option httpchk` against its /readyz every 300 ms (down after two failures).
const haproxyConfig = `global
	maxconn 200
	stats socket %s level admin
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend pop
	bind 127.0.0.1:%d
	default_backend popwires
backend popwires
	balance roundrobin
	option httpchk
	http-check send meth GET uri /readyz
	http-check expect status 200
	server pw0 127.0.0.1:%d check port %d inter 300ms fall 2 rise 2
	server pw1 127.0.0.1:%d check port %d inter 300ms fall 2 rise 2
`

// haproxyStatus returns the status HAProxy's stats socket gives server (UP, DOWN, …).
func haproxyStatus(sock, server string) (string, error) {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return "", err
	}
	out, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	// CSV: pxname,svname,…; the status is field 18 (index 17).
	for line := range strings.Lines(string(out)) {
		f := strings.Split(line, ",")
		if len(f) > 17 && f[0] == "popwires" && f[1] == server {
			return f[17], nil
		}
	}
	return "", fmt.Errorf("no server %s in %q", server, out)
}

// TestDrainBehindHAProxy puts HAProxy (TCP mode, httpchk on /readyz) in front of two popwire
// processes and Dovecot, holds a session open on one popwire and sends that popwire SIGTERM:
// HAProxy must see its /readyz fail and send every new session to the other popwire, no client
// may be refused meanwhile, the session in flight fetches its message byte-exact and quits, and
// the drained popwire exits 0.
func TestDrainBehindHAProxy(t *testing.T) {
	t.Parallel()
	haproxy := needTool(t, "haproxy")
	d := dovecotInstance(t)
	var pws [2]*popwireProc
	var metricsPorts [2]int
	for i := range pws {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		metricsPorts[i] = port
		pws[i] = startPopwire(t, d, popwireOpts{logFile: true,
			args: []string{"--metrics", loopback(port), "--drain-delay", "3s", "--shutdown-timeout", "20s"}})
		waitStatus(t, fmt.Sprintf("http://%s/readyz", loopback(port)), 200, 30*time.Second)
	}
	front, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "haproxy.sock")
	cfg := filepath.Join(dir, "haproxy.cfg")
	conf := fmt.Sprintf(haproxyConfig, sock, front, pws[0].plainPort, metricsPorts[0], pws[1].plainPort, metricsPorts[1])
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(haproxy, "-db", "-f", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	hp, err := startProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hp.stop(syscall.SIGTERM, 10*time.Second)
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("--- haproxy ---\n%s", out)
		}
	})
	if err := waitPort(loopback(front), 30*time.Second, func() bool { return !hp.exited() }); err != nil {
		t.Fatal(err)
	}

	// A session held open through HAProxy; which popwire has it?
	held, err := dialPOP(loopback(front), "", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := held.login(userDrainHeld); err != nil {
		t.Fatal(err)
	}
	drained := -1
	for i, port := range metricsPorts {
		_, scrape, err := httpGet(fmt.Sprintf("http://%s/metrics", loopback(port)))
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := seriesValue(scrape, `popwire_sessions_active{listener="plain",route="default"}`); v == "1" {
			drained = i
		}
	}
	if drained < 0 {
		t.Fatal("neither popwire counts the held session as active")
	}
	other := 1 - drained
	name := func(i int) string { return fmt.Sprintf("pw%d", i) }

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		pws[drained].stop(t)
	}()
	// Until HAProxy takes the drained popwire out, and a while after, every new client must be
	// served by one of them: none is refused.
	deadline := time.Now().Add(30 * time.Second)
	down := false
	for n := 0; ; n++ {
		p, err := dialPOP(loopback(front), "", "localhost")
		if err != nil {
			t.Fatalf("client %d during the drain: %v", n, err)
		}
		if err := p.quit(); err != nil {
			t.Fatalf("client %d during the drain: %v", n, err)
		}
		st, err := haproxyStatus(sock, name(drained))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(st, "DOWN") {
			down = true
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy still has %s %s 30 s after its SIGTERM", name(drained), st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, err := haproxyStatus(sock, name(other)); err != nil || st != "UP" {
		t.Fatalf("the other popwire is %q (%v), want UP", st, err)
	}
	// From now on every new session goes to the other popwire.
	before := quitTotal(t, metricsPorts[other])
	for n := range 5 {
		p, err := dialPOP(loopback(front), "", "localhost")
		if err != nil {
			t.Fatalf("client %d after the drained popwire went down: %v", n, err)
		}
		if err := p.quit(); err != nil {
			t.Fatal(err)
		}
	}
	waitClosed(t, pws[drained].plainAddr, 15*time.Second)
	for wait := time.Now().Add(10 * time.Second); quitTotal(t, metricsPorts[other]) < before+5; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("the other popwire ended %v sessions by QUIT, want at least %v", quitTotal(t, metricsPorts[other]), before+5)
		}
	}

	got, err := held.multi("RETR 1")
	if err != nil {
		t.Fatalf("the held session after its popwire closed its listeners: %v", err)
	}
	if !bytes.Equal(got, d.small[0].served()) {
		t.Errorf("RETR 1 in the held session: %d bytes, want %d as stored", len(got), len(d.small[0].served()))
	}
	if err := held.quit(); err != nil {
		t.Errorf("QUIT in the held session: %v", err)
	}
	select {
	case <-stopped:
	case <-time.After(60 * time.Second):
		t.Fatal("the drained popwire did not exit")
	}
	if !down {
		t.Error("HAProxy never took the drained popwire out")
	}
}

// quitTotal returns how many sessions on a popwire's plaintext listener ended by QUIT, from its
// /metrics.
func quitTotal(t *testing.T, metricsPort int) float64 {
	t.Helper()
	_, scrape, err := httpGet(fmt.Sprintf("http://%s/metrics", loopback(metricsPort)))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := seriesValue(scrape, `popwire_sessions_total{end="client_quit",listener="plain",route="default"}`)
	var f float64
	fmt.Sscan(v, &f)
	return f
}
