package e2e

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// scaleRoute is the route name of both popwires of TestScaleOut, a label of their metrics.
const scaleRoute = "pool"

// scaleConfig is the configuration file of one popwire of TestScaleOut: its JSON log, its
// metrics address, the plaintext listener that only HAProxy (loopback) may reach, with a PROXY
// header, and Dovecot's implicit-TLS port.
const scaleConfig = `log: {file: %q, format: text, color: never}
shutdown_timeout: 20s
metrics: {listen: %q, drain_delay: 3s}
routes:
  - name: ` + scaleRoute + `
    listen:
      - address: %q
        proxy_protocol: {trusted: [127.0.0.0/8]}
    upstream: {address: %q, tls: implicit, ca: [%q], name: %s}
`

// scaleProxies is HAProxy's frontend and backend in TestScaleOut: round robin over two
// popwires with send-proxy-v2, each checked with `option httpchk` against its /readyz on its
// metrics port every 300 ms (down after two failures).
const scaleProxies = `frontend pop
    bind %s
    default_backend popwires
backend popwires
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    default-server send-proxy-v2 check inter 300ms fall 2 rise 2
    server pw0 %s port %d
    server pw1 %s port %d
`

// scaleNode is one popwire of TestScaleOut.
type scaleNode struct {
	*popwireProc
	name    string // its server name in HAProxy
	listen  string // its PROXY-protocol listener
	metrics int    // its metrics port
}

// TestScaleOut runs popwire scaled out with real parts: HAProxy (TCP mode, send-proxy-v2,
// httpchk on /readyz) in front of two `popwire serve --config` processes in front of Dovecot.
// curl, poplib and fetchmail, from 127.0.0.2, .3 and .4, fetch every message byte-exact
// through HAProxy, and the popwires' JSON logs show each client's own address with HAProxy's
// as via. Then one popwire gets SIGTERM while it holds two sessions: HAProxy marks it DOWN
// because its /readyz answers 503, no client is refused meanwhile, new sessions go to the other
// popwire, the held session fetches its message and quits, the one that sent DELE without QUIT
// is cut at the shutdown timeout with nothing committed, and the drained popwire exits 0.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	haproxy := needTool(t, "/usr/sbin/haproxy", "haproxy")
	curl := needTool(t, "curl")
	py := python(t)
	needTool(t, "fetchmail")
	d := dovecotInstance(t)
	d.refillSmall(t, userScaleDele)
	localCA := popwireCA(t)

	var nodes [2]*scaleNode
	for i := range nodes {
		nodes[i] = startScaleNode(t, d, i)
	}
	front, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	hp := runHAProxy(t, haproxy, fmt.Sprintf(scaleProxies, loopback(front),
		nodes[0].listen, nodes[0].metrics, nodes[1].listen, nodes[1].metrics))

	t.Run("clients", func(t *testing.T) {
		t.Run("curl", func(t *testing.T) {
			t.Parallel()
			got := curlFetchAs(t, curl, "pop3://"+loopback(front), userScaleCurl, password(userScaleCurl), "--interface", "127.0.0.2")
			checkMailbox(t, "curl through HAProxy", got, d.full)
		})
		t.Run("poplib", func(t *testing.T) {
			t.Parallel()
			got := poplibFetchFrom(t, py, "127.0.0.3", "stls", front, localCA, userScalePop)
			checkMailbox(t, "poplib through HAProxy", got, d.full)
		})
		t.Run("fetchmail", func(t *testing.T) {
			t.Parallel()
			relay, err := filepath.Abs("testdata/connect_from.py")
			if err != nil {
				t.Fatal(err)
			}
			got := runFetchmail(t, front, userScaleFM, plainRC, true, "--plugin", py+" "+relay+" 127.0.0.4 %h %p")
			checkFetchmail(t, got, fetchmailWant(d.full))
		})
	})
	// curl runs three sessions (RETR and LIST, UIDL, TOP), poplib and fetchmail one each.
	want := map[string]int{"127.0.0.2": 3, "127.0.0.3": 1, "127.0.0.4": 1}
	closed := func() map[string]int {
		all := map[string]int{}
		for _, n := range nodes {
			for c, k := range closedByClient(t, n.jsonLog) {
				all[c] += k
			}
		}
		return all
	}
	waitFor(t, "the close of the clients' sessions", func() bool {
		c := closed()
		return c["127.0.0.2"] >= 3 && c["127.0.0.3"] >= 1 && c["127.0.0.4"] >= 1
	})
	if c := closed(); !maps.Equal(c, want) {
		t.Errorf("sessions closed by client address %v, want %v", c, want)
	}
	for _, n := range nodes {
		opened := 0
		for _, e := range readEvents(t, n.jsonLog) {
			switch {
			case e.Kind == logview.KindOpen && (e.Via == "" || host(t, e.Via) != "127.0.0.1"):
				t.Errorf("%s: session %s from %s came via %q, want HAProxy's 127.0.0.1", n.name, e.Session, e.Client, e.Via)
			case e.Kind == logview.KindOpen:
				opened++
			case e.Kind == logview.KindError:
				t.Errorf("%s: %s", n.name, e.Err)
			}
		}
		if opened == 0 {
			t.Errorf("%s served none of the clients' sessions: HAProxy did not balance", n.name)
		}
	}

	// Two sessions held on one popwire: one will finish, one sends DELE and never QUIT.
	held, drained := dialScale(t, nodes, front)
	if err := held.login(userDrainHeld); err != nil {
		t.Fatal(err)
	}
	var stuck *popClient
	for range 4 {
		c, on := dialScale(t, nodes, front)
		if on == drained {
			stuck = c
			break
		}
		idle := activeSessions(t, nodes[on].metrics) - 1
		if err := c.quit(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the end of a session on "+nodes[on].name, func() bool { return activeSessions(t, nodes[on].metrics) == idle })
	}
	if stuck == nil {
		t.Fatalf("four sessions through HAProxy, none on %s: not round robin", nodes[drained].name)
	}
	if err := stuck.login(userScaleDele); err != nil {
		t.Fatal(err)
	}
	if _, err := stuck.cmd("DELE 1"); err != nil {
		t.Fatal(err)
	}
	dn, other := nodes[drained], nodes[1-drained]

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		dn.stop(t) // SIGTERM, then exit status 0 required
	}()
	// Until HAProxy takes the drained popwire out, every new client must be served by one of
	// them: none is refused.
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; ; n++ {
		p, err := dialPOP(loopback(front), "", "")
		if err != nil {
			t.Fatalf("client %d during the drain: %v", n, err)
		}
		if err := p.quit(); err != nil {
			t.Fatalf("client %d during the drain: %v", n, err)
		}
		st := hp.stat(t, "popwires", dn.name)
		if strings.HasPrefix(st["status"], "DOWN") {
			// Down because its /readyz answered 503, not because it stopped listening.
			if st["check_status"] != "L7STS" || st["check_code"] != "503" {
				t.Errorf("HAProxy took %s out with check %s %s, want L7STS 503 (/readyz failing)", dn.name, st["check_status"], st["check_code"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy still has %s %s 30 s after its SIGTERM", dn.name, st["status"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := hp.stat(t, "popwires", other.name); st["status"] != "UP" {
		t.Fatalf("the other popwire is %q, want UP", st["status"])
	}
	// From now on every new session goes to the other popwire.
	quits := func(n *scaleNode) float64 {
		return metricValue(t, n.metrics, `popwire_sessions_total{end="client_quit",listener="plain",route="`+scaleRoute+`"}`)
	}
	drainedBefore, otherBefore := quits(dn), quits(other)
	for n := range 5 {
		p, err := dialPOP(loopback(front), "", "")
		if err != nil {
			t.Fatalf("client %d after the drained popwire went down: %v", n, err)
		}
		if err := p.quit(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "five sessions ended by QUIT on "+other.name, func() bool { return quits(other) >= otherBefore+5 })
	if q := quits(dn); q != drainedBefore {
		t.Errorf("%s ended %v sessions by QUIT after HAProxy took it out, want none", dn.name, q-drainedBefore)
	}
	waitClosed(t, dn.listen, 15*time.Second)

	got, err := held.multi("RETR 1")
	if err != nil {
		t.Fatalf("the held session after its popwire closed its listener: %v", err)
	}
	if !bytes.Equal(got, d.small[0].served()) {
		t.Errorf("RETR 1 in the held session: %d bytes, want %d as stored", len(got), len(d.small[0].served()))
	}
	if err := held.quit(); err != nil {
		t.Errorf("QUIT in the held session: %v", err)
	}
	stuck.conn.SetDeadline(time.Now().Add(40 * time.Second))
	if rest, err := io.ReadAll(stuck.r); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("the session that never quits: %v (read %q)", err, rest)
	}
	select {
	case <-stopped:
	case <-time.After(60 * time.Second):
		t.Fatal("the drained popwire did not exit")
	}
	if n := d.storedCount(t, userScaleDele); n != len(d.small) {
		t.Errorf("the Maildir of %s holds %d messages, want all %d: a DELE without QUIT was committed", userScaleDele, n, len(d.small))
	}
}

// startScaleNode starts popwire number i of TestScaleOut with a configuration file
// (scaleConfig) and waits until its /readyz answers 200.
func startScaleNode(t *testing.T, d *dovecot, i int) *scaleNode {
	t.Helper()
	listen, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jsonLog := filepath.Join(dir, "popwire.jsonl")
	path := filepath.Join(dir, "popwire.yaml")
	conf := fmt.Sprintf(scaleConfig, jsonLog, loopback(metrics), loopback(listen), loopback(d.tlsPort), d.ca.CertPEM, serverName)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &scaleNode{popwireProc: startPopwireConfig(t, path, jsonLog), name: fmt.Sprintf("pw%d", i),
		listen: loopback(listen), metrics: metrics}
	waitStatus(t, fmt.Sprintf("http://%s/readyz", loopback(metrics)), 200, 30*time.Second)
	return n
}

// dialScale opens a session through HAProxy at port front and returns it with the index of the
// popwire of nodes that took it: the one whose active sessions grew.
func dialScale(t *testing.T, nodes [2]*scaleNode, front int) (*popClient, int) {
	t.Helper()
	var before [2]float64
	for i, n := range nodes {
		before[i] = activeSessions(t, n.metrics)
	}
	c, err := dialPOP(loopback(front), "", "")
	if err != nil {
		t.Fatal(err)
	}
	on := -1
	waitFor(t, "the popwire of a new session", func() bool {
		for i, n := range nodes {
			if activeSessions(t, n.metrics) > before[i] {
				on = i
				return true
			}
		}
		return false
	})
	return c, on
}

// activeSessions returns the sessions a popwire of TestScaleOut has open, from its /metrics.
func activeSessions(t *testing.T, metricsPort int) float64 {
	t.Helper()
	return metricValue(t, metricsPort, `popwire_sessions_active{listener="plain",route="`+scaleRoute+`"}`)
}

// metricValue returns the value of series in the /metrics of the popwire at metricsPort; a
// series that is not there fails t.
func metricValue(t *testing.T, metricsPort int, series string) float64 {
	t.Helper()
	_, scrape, err := httpGet(fmt.Sprintf("http://%s/metrics", loopback(metricsPort)))
	if err != nil {
		t.Fatal(err)
	}
	v, ok := seriesValue(scrape, series)
	if !ok {
		t.Fatalf("no %s in the scrape of port %d", series, metricsPort)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("%s = %q: %v", series, v, err)
	}
	return f
}
