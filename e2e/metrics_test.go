package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// httpGet fetches url from popwire's metrics address and returns the status and body.
func httpGet(url string) (int, string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitStatus polls url until it answers status, for up to timeout, and returns the body.
func waitStatus(t *testing.T, url string, status int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body, err := httpGet(url)
		if err == nil && code == status {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: HTTP %d %q (%v), want %d within %v", url, code, body, err, status, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// seriesValue returns the value of the series `name{labels}` in a scrape, and whether it is there.
func seriesValue(scrape, series string) (string, bool) {
	for line := range strings.Lines(scrape) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return v, true
		}
	}
	return "", false
}

// TestMetricsAndDrain runs `popwire serve --metrics`: /readyz is 200 once it serves, a session's
// commands and end are counted in /metrics (which promtool accepts), and SIGTERM turns /readyz
// to 503 at once while the listeners still accept for --drain-delay; then they close, a session
// in flight runs to its QUIT, one that never quits is cut at --shutdown-timeout without its
// DELE committed, and popwire exits 0.
func TestMetricsAndDrain(t *testing.T) {
	t.Parallel()
	promtool := needTool(t, "promtool")
	d := dovecotInstance(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + loopback(port)
	pw := startPopwire(t, d, popwireOpts{args: []string{"--metrics", loopback(port), "--drain-delay", "5s", "--shutdown-timeout", "6s"}})
	waitStatus(t, base+"/readyz", 200, 30*time.Second)
	if code, body, err := httpGet(base + "/healthz"); err != nil || code != 200 {
		t.Fatalf("/healthz: %d %q %v", code, body, err)
	}

	p, err := dialPOP(pw.plainAddr, "", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.login(userMetrics); err != nil {
		t.Fatal(err)
	}
	got, err := p.multi("RETR 1")
	if err != nil {
		t.Fatal(err)
	}
	if sum(got) != sum(d.small[0].served()) {
		t.Errorf("RETR 1: %d bytes, want %d as stored", len(got), len(d.small[0].served()))
	}
	if err := p.quit(); err != nil {
		t.Fatal(err)
	}
	quits := `popwire_sessions_total{end="client_quit",listener="plain",route="default"}`
	active := `popwire_sessions_active{listener="plain",route="default"}`
	deadline := time.Now().Add(10 * time.Second)
	var scrape string
	for {
		// A scrape reads the gauge and the counter one after the other: wait for both, the
		// session's end may fall between them.
		_, scrape, err = httpGet(base + "/metrics")
		q, _ := seriesValue(scrape, quits)
		a, _ := seriesValue(scrape, active)
		if q == "1" && a == "0" || err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for series, want := range map[string]string{
		quits: "1",
		`popwire_commands_total{route="default",verb="RETR"}`:                     "1",
		`popwire_commands_total{route="default",verb="QUIT"}`:                     "1",
		`popwire_logins_total{mechanism="user",outcome="ok",route="default"}`:     "1",
		`popwire_logins_total{mechanism="user",outcome="failed",route="default"}`: "0",
		active: "0",
		`popwire_tls_handshake_failures_total{leg="upstream",reason="verify",route="default"}`: "0",
	} {
		if v, ok := seriesValue(scrape, series); v != want {
			t.Errorf("%s = %q (present %v), want %s", series, v, ok, want)
		}
	}
	for _, series := range []string{`popwire_log_events_dropped_total{output="stderr"}`, `popwire_upstream_tls_seconds_count{route="default"}`,
		`popwire_bytes_total{direction="server_to_client",route="default"}`} {
		if _, ok := seriesValue(scrape, series); !ok {
			t.Errorf("no %s in the scrape", series)
		}
	}
	if strings.Contains(scrape, userMetrics) || strings.Contains(scrape, password(userMetrics)) || strings.Contains(scrape, "127.0.0.1") {
		t.Error("the scrape shows the user name, the password or an address")
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(scrape)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// Two sessions in flight: one will finish, one will never QUIT.
	finishing, err := dialPOP(pw.plainAddr, "", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := finishing.login(userDrain); err != nil {
		t.Fatal(err)
	}
	stuck, err := dialPOP(pw.plainAddr, "", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if err := stuck.login(userDrainDele); err != nil {
		t.Fatal(err)
	}
	if _, err := stuck.cmd("DELE 1"); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		pw.stop(t) // SIGTERM, then exit status 0 required
	}()
	body := waitStatus(t, base+"/readyz", 503, 3*time.Second)
	if !strings.HasPrefix(body, "draining") {
		t.Errorf("/readyz while draining: %q", body)
	}
	// The listeners still accept during the drain delay: no client is refused while a load
	// balancer may still send.
	late, err := dialPOP(pw.plainAddr, "", "localhost")
	if err != nil {
		t.Fatalf("a client connecting during the drain delay: %v", err)
	}
	if err := late.quit(); err != nil {
		t.Errorf("a client connecting during the drain delay: %v", err)
	}
	waitClosed(t, pw.plainAddr, 15*time.Second)

	got, err = finishing.multi("RETR 1")
	if err != nil {
		t.Fatalf("the session in flight after the listeners closed: %v", err)
	}
	if !bytes.Equal(got, d.small[0].served()) {
		t.Errorf("RETR 1 while draining: %d bytes, want %d as stored", len(got), len(d.small[0].served()))
	}
	if err := finishing.quit(); err != nil {
		t.Errorf("QUIT while draining: %v", err)
	}
	stuck.conn.SetDeadline(time.Now().Add(20 * time.Second))
	if rest, err := io.ReadAll(stuck.r); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("the session that never quits: %v (read %q)", err, rest)
	}
	select {
	case <-stopped:
	case <-time.After(60 * time.Second):
		t.Fatal("popwire did not exit after SIGTERM")
	}
	if n := d.storedCount(t, userDrainDele); n != len(d.small) {
		t.Errorf("the Maildir of %s holds %d messages, want all %d: a DELE without QUIT was committed", userDrainDele, n, len(d.small))
	}
}

// waitClosed waits until addr refuses connections, for up to timeout.
func waitClosed(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts %v after SIGTERM", addr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetricsRemoteRefused: --metrics on an address that is not loopback is a usage error
// (exit 2) unless --metrics-allow-remote.
func TestMetricsRemoteRefused(t *testing.T) {
	t.Parallel()
	bin := popwireBinary(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(30*time.Second, popwireEnv(), bin, "serve", "--listen", "127.0.0.1:0", "--metrics", fmt.Sprintf("0.0.0.0:%d", port))
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "--metrics-allow-remote") {
		t.Errorf("serve --metrics 0.0.0.0: %v, want exit status 2 naming --metrics-allow-remote:\n%s", err, out)
	}
}
