package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/metrics"
	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/popserver"
)

// metricsUpstream starts a popserver on loopback (plaintext) where alice's password is
// "s3cret-pw" and her maildrop holds two messages; it returns its address.
func metricsUpstream(t *testing.T) string {
	t.Helper()
	st := &popserver.Store{}
	if err := st.Put("alice", popserver.Message{UID: "u1", Data: []byte("Subject: one\r\n\r\nbody one\r\n")},
		popserver.Message{UID: "u2", Data: []byte("Subject: two\r\n\r\nbody two\r\n")}); err != nil {
		t.Fatal(err)
	}
	srv := &popserver.Server{Users: map[string]string{"alice": "s3cret-pw"}, Store: st}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// metricsProxy starts a proxy counting into a new registry, in front of a metricsUpstream
// unless cfg names an upstream.
func metricsProxy(t *testing.T, cfg Config) (*testProxy, *metrics.Registry) {
	t.Helper()
	reg := metrics.New()
	cfg.Metrics = reg
	if cfg.Upstream == "" {
		cfg.Upstream = metricsUpstream(t)
		cfg.UpstreamMode = popclient.UpstreamPlaintext
		cfg.InsecureUpstreamPlaintext = true
	}
	return startProxy(t, cfg, ""), reg
}

// scrape returns the series of reg's /metrics output, each "name{labels}" with its value.
func scrape(t *testing.T, reg *metrics.Registry) map[string]float64 {
	t.Helper()
	text := scrapeText(t, reg)
	series := make(map[string]float64)
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	return series
}

func scrapeText(t *testing.T, reg *metrics.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: HTTP %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// waitSeries waits up to 5 s for a series to reach want (sessions end on their own goroutines).
func waitSeries(t *testing.T, reg *metrics.Registry, name string, want float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := scrape(t, reg)
		if s[name] == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, s[name], want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func expectSeries(t *testing.T, s map[string]float64, want map[string]float64) {
	t.Helper()
	for name, v := range want {
		if got, ok := s[name]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
}

// talk sends each line and reads one reply line for it (the whole reply for RETR).
func talk(t *testing.T, c *clientConn, lines ...string) []string {
	t.Helper()
	var got []string
	for _, l := range lines {
		c.send(t, l+"\r\n")
		r := c.line(t)
		got = append(got, r)
		if strings.HasPrefix(l, "RETR") && strings.HasPrefix(r, "+OK") {
			for r != ".\r\n" {
				r = c.line(t)
			}
		}
	}
	return got
}

func TestMetricsSessionCommandsRepliesLogins(t *testing.T) {
	p, reg := metricsProxy(t, Config{})
	c := p.dial(t, false)
	c.line(t) // greeting
	talk(t, c, "USER alice", "PASS wrong", "USER alice", "PASS s3cret-pw", "STAT", "RETR 1", "XYZZY", "NOOP")
	s := scrape(t, reg)
	expectSeries(t, s, map[string]float64{
		`popwire_sessions_active{listener="plain",route="default"}`: 1,
	})
	talk(t, c, "QUIT")
	c.rest(t)
	p.closeReason(t, "")
	s = waitSeries(t, reg, `popwire_sessions_total{end="client_quit",listener="plain",route="default"}`, 1)
	expectSeries(t, s, map[string]float64{
		`popwire_sessions_active{listener="plain",route="default"}`:                         0,
		`popwire_commands_total{route="default",verb="USER"}`:                               2,
		`popwire_commands_total{route="default",verb="PASS"}`:                               2,
		`popwire_commands_total{route="default",verb="STAT"}`:                               1,
		`popwire_commands_total{route="default",verb="RETR"}`:                               1,
		`popwire_commands_total{route="default",verb="QUIT"}`:                               1,
		`popwire_commands_total{route="default",verb="other"}`:                              1,
		`popwire_replies_total{route="default",status="err"}`:                               2, // PASS wrong, XYZZY
		`popwire_replies_total{route="default",status="ok"}`:                                7, // USER×2, PASS, STAT, RETR, NOOP, QUIT; the greeting is no reply
		`popwire_logins_total{mechanism="user",outcome="ok",route="default"}`:               1,
		`popwire_logins_total{mechanism="user",outcome="failed",route="default"}`:           1,
		`popwire_logins_total{mechanism="apop",outcome="ok",route="default"}`:               0,
		`popwire_sessions_total{end="error",listener="plain",route="default"}`:              0,
		`popwire_sessions_total{end="client_quit",listener="tls",route="default"}`:          0,
		`popwire_policy_refusals_total{kind="deny",route="default"}`:                        0,
		`popwire_tls_handshake_failures_total{leg="client",reason="other",route="default"}`: 0,
	})
	sum := p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose }).Summary
	expectSeries(t, s, map[string]float64{
		`popwire_bytes_total{direction="client_to_server",route="default"}`: float64(sum.BytesUp),
		`popwire_bytes_total{direction="server_to_client",route="default"}`: float64(sum.BytesDown),
	})
	if sum.BytesDown == 0 || sum.BytesUp == 0 {
		t.Errorf("close summary counted no bytes: %+v", sum)
	}
}

// TestMetricsWithoutSink counts with no log at all: the recorder builds no events then, and
// must still count every frame.
func TestMetricsWithoutSink(t *testing.T) {
	reg := metrics.New()
	srv, err := New(Config{Upstream: metricsUpstream(t), UpstreamMode: popclient.UpstreamPlaintext,
		InsecureUpstreamPlaintext: true, Metrics: reg, Route: "gmail"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(Listener{Listener: ln}) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-done
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := &clientConn{Conn: nc, r: bufio.NewReader(nc)}
	c.line(t)
	talk(t, c, "USER alice", "PASS s3cret-pw", "QUIT")
	io.Copy(io.Discard, nc)
	s := waitSeries(t, reg, `popwire_sessions_total{end="client_quit",listener="plain",route="gmail"}`, 1)
	expectSeries(t, s, map[string]float64{
		`popwire_commands_total{route="gmail",verb="PASS"}`:                 1,
		`popwire_logins_total{mechanism="user",outcome="ok",route="gmail"}`: 1,
	})
}

func TestMetricsSASLLogins(t *testing.T) {
	p, reg := metricsProxy(t, Config{})
	c := p.dial(t, false)
	c.line(t)
	bad := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00nope"))
	good := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00s3cret-pw"))
	got := talk(t, c, "AUTH PLAIN "+bad, "AUTH X-HOSTILE-{mech}", "AUTH PLAIN")
	if !strings.HasPrefix(got[2], "+") {
		t.Fatalf("AUTH PLAIN without initial response: %q", got[2])
	}
	talk(t, c, good, "QUIT")
	c.rest(t)
	s := waitSeries(t, reg, `popwire_sessions_total{end="client_quit",listener="plain",route="default"}`, 1)
	expectSeries(t, s, map[string]float64{
		`popwire_logins_total{mechanism="plain",outcome="failed",route="default"}`: 1,
		`popwire_logins_total{mechanism="plain",outcome="ok",route="default"}`:     1,
		`popwire_logins_total{mechanism="other",outcome="failed",route="default"}`: 1,
		`popwire_replies_total{route="default",status="continuation"}`:             1,
		`popwire_commands_total{route="default",verb="AUTH"}`:                      3,
	})
}

func TestMetricsPolicyRefusals(t *testing.T) {
	p, reg := metricsProxy(t, Config{Deny: []string{"DELE"}, RequireTLS: true})
	c := p.dial(t, false)
	c.line(t)
	talk(t, c, "USER alice", "DELEX 1", "DELE 1", "NOOP", "QUIT")
	c.rest(t)
	s := waitSeries(t, reg, `popwire_sessions_total{end="client_quit",listener="plain",route="default"}`, 1)
	expectSeries(t, s, map[string]float64{
		`popwire_policy_refusals_total{kind="require_tls",route="default"}`: 1,
		`popwire_policy_refusals_total{kind="unparsed",route="default"}`:    1,
		`popwire_policy_refusals_total{kind="deny",route="default"}`:        1,
	})

	// A TLS client asking STLS again is refused; so is a client over the connection cap.
	tc := p.dial(t, true)
	tc.line(t)
	talk(t, tc, "STLS")
	waitSeries(t, reg, `popwire_policy_refusals_total{kind="stls",route="default"}`, 1)
}

func TestMetricsRefusedAtCap(t *testing.T) {
	p, reg := metricsProxy(t, Config{MaxConns: 1})
	first := p.dial(t, false)
	first.line(t)
	second := p.dial(t, false)
	if l := second.line(t); !strings.Contains(l, "too many connections") {
		t.Fatalf("second client got %q", l)
	}
	s := waitSeries(t, reg, `popwire_sessions_total{end="refused",listener="plain",route="default"}`, 1)
	expectSeries(t, s, map[string]float64{
		`popwire_policy_refusals_total{kind="max_conns",route="default"}`: 1,
		`popwire_sessions_active{listener="plain",route="default"}`:       1,
	})
}

func TestMetricsEnds(t *testing.T) {
	p, reg := metricsProxy(t, Config{IdleTimeout: 200 * time.Millisecond, LoginTimeout: time.Hour})
	const series = `popwire_sessions_total{end="%s",listener="plain",route="default"}`
	name := func(end string) string { return strings.Replace(series, "%s", end, 1) }

	idle := p.dial(t, false)
	idle.line(t)
	idle.rest(t)
	waitSeries(t, reg, name("idle_timeout"), 1)

	closed := p.dial(t, false)
	closed.line(t)
	closed.Close()
	waitSeries(t, reg, name("client_closed"), 1)

	// A TLS handshake that is no TLS: the client leg fails with a protocol error.
	raw, _ := p.dialRaw(t)
	io.WriteString(raw, "USER alice\r\n")
	io.Copy(io.Discard, raw)
	s := waitSeries(t, reg, `popwire_sessions_total{end="client_tls_failed",listener="tls",route="default"}`, 1)
	expectSeries(t, s, map[string]float64{
		`popwire_tls_handshake_failures_total{leg="client",reason="protocol",route="default"}`: 1,
	})
}

func TestMetricsLoginTimeoutAndShutdown(t *testing.T) {
	p, reg := metricsProxy(t, Config{LoginTimeout: 100 * time.Millisecond})
	c := p.dial(t, false)
	c.line(t)
	c.rest(t)
	waitSeries(t, reg, `popwire_sessions_total{end="login_timeout",listener="plain",route="default"}`, 1)

	q, reg2 := metricsProxy(t, Config{})
	d := q.dial(t, false)
	d.line(t)
	talk(t, d, "USER alice", "PASS s3cret-pw")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q.srv.Shutdown(ctx)
	waitSeries(t, reg2, `popwire_sessions_total{end="shutdown",listener="plain",route="default"}`, 1)
}

func TestMetricsServerClosedAndDialFailed(t *testing.T) {
	up := newUpstream(t, true, func(u *upstreamConn) { u.write("+OK hi\r\n") })
	p, reg := metricsProxy(t, Config{Upstream: up.addr(), UpstreamMode: popclient.UpstreamPlaintext, InsecureUpstreamPlaintext: true})
	c := p.dial(t, false)
	c.line(t)
	c.rest(t)
	waitSeries(t, reg, `popwire_sessions_total{end="server_closed",listener="plain",route="default"}`, 1)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	q, reg2 := metricsProxy(t, Config{Upstream: dead, UpstreamMode: popclient.UpstreamPlaintext, InsecureUpstreamPlaintext: true})
	d := q.dial(t, false)
	d.rest(t)
	waitSeries(t, reg2, `popwire_sessions_total{end="upstream_dial_failed",listener="plain",route="default"}`, 1)
}

func TestMetricsUpstreamTLS(t *testing.T) {
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write("+OK hi\r\n")
		u.line()
	})
	p, reg := metricsProxy(t, Config{Upstream: up.addr()})
	c := p.dial(t, false)
	c.line(t)
	c.Close()
	s := waitSeries(t, reg, `popwire_upstream_tls_seconds_count{route="default"}`, 1)
	expectSeries(t, s, map[string]float64{`popwire_upstream_connect_seconds_count{route="default"}`: 1})
	if s[`popwire_upstream_tls_seconds_sum{route="default"}`] <= 0 {
		t.Errorf("TLS time sum is %v", s[`popwire_upstream_tls_seconds_sum{route="default"}`])
	}

	// An upstream whose certificate this proxy does not trust fails verification.
	_, other := pkis(t)
	q, reg2 := metricsProxy(t, Config{Upstream: up.addr(), UpstreamRoots: other.pool})
	d := q.dial(t, false)
	d.rest(t)
	waitSeries(t, reg2, `popwire_tls_handshake_failures_total{leg="upstream",reason="verify",route="default"}`, 1)
}

// TestMetricsLabelValuesAreFixed sends hostile verbs, user names and mechanisms and checks
// that every label value in the scrape comes from the allowed sets, and that no user name,
// secret or address shows.
func TestMetricsLabelValuesAreFixed(t *testing.T) {
	p, reg := metricsProxy(t, Config{})
	// Each group is one session (a line that is no POP3 ends a session under a policy).
	hostile := [][]string{
		{`USER eve"}{evil="1`, "PASS hunter2-secret", "AUTH SCRAM-\"X\"", "RETRX 1", "user alice", "pass s3cret-pw", "list"},
		{`X"Y{Z} 1`}, {"ÜBER alles"}, {"NOOP\tx"}, {"AUTH PLAIN AGFsaWNlAHMzY3JldC1wdw=="}, {"APOP alice 0123456789abcdef0123456789abcdef"},
	}
	for _, lines := range hostile {
		c := p.dial(t, false)
		c.line(t)
		c.send(t, strings.Join(lines, "\r\n")+"\r\nQUIT\r\n")
		c.rest(t)
	}
	waitSeries(t, reg, `popwire_sessions_active{listener="plain",route="default"}`, 0)
	text := scrapeText(t, reg)
	for _, bad := range []string{`eve"`, "evil", "hunter2", "alice", "s3cret", "127.0.0.1", "ÜBER", "XYZ", "SCRAM-"} {
		if strings.Contains(text, bad) {
			t.Errorf("scrape shows %q", bad)
		}
	}
	allowed := map[string][]string{
		"route":     {"default"},
		"listener":  {"plain", "tls"},
		"verb":      append(slices.Clone(metrics.Verbs), "other"),
		"status":    {"ok", "err", "continuation"},
		"mechanism": metrics.Mechanisms,
		"outcome":   append([]string{"failed"}, metrics.RefreshOutcomes...),
		"end":       {"client_quit", "client_closed", "server_closed", "idle_timeout", "login_timeout", "shutdown", "refused", "client_tls_failed", "upstream_dial_failed", "error"},
		"direction": {"client_to_server", "server_to_client"},
		"leg":       {"client", "upstream"},
		"reason":    {"verify", "timeout", "closed", "protocol", "other"},
		"kind":      {"deny", "require_tls", "stls", "unparsed", "max_conns", "max_conns_per_ip", "proxy_protocol", "oauth"},
		"le":        nil, // histogram bounds: numbers
	}
	for series := range scrape(t, reg) {
		if !strings.HasPrefix(series, "popwire_") {
			continue
		}
		for _, lv := range labelPairs(t, series) {
			vals, ok := allowed[lv[0]]
			switch {
			case !ok:
				t.Errorf("%s: unexpected label %s", series, lv[0])
			case lv[0] == "le":
				if _, err := strconv.ParseFloat(lv[1], 64); err != nil && lv[1] != "+Inf" {
					t.Errorf("%s: le=%q", series, lv[1])
				}
			case !slices.Contains(vals, lv[1]):
				t.Errorf("%s: %s=%q is not an allowed value", series, lv[0], lv[1])
			}
		}
	}
	if v := scrape(t, reg)[`popwire_commands_total{route="default",verb="other"}`]; v == 0 {
		t.Error("no verb counted as other")
	}
}

// labelPairs splits `name{a="x",b="y"}` into its label names and values (values here hold no
// quote or comma: the test fails on one that does).
func labelPairs(t *testing.T, series string) [][2]string {
	t.Helper()
	i := strings.IndexByte(series, '{')
	if i < 0 {
		return nil
	}
	var pairs [][2]string
	for kv := range strings.SplitSeq(strings.TrimSuffix(series[i+1:], "}"), ",") {
		k, v, ok := strings.Cut(kv, "=")
		uq, err := strconv.Unquote(v)
		if !ok || err != nil {
			t.Errorf("%s: cannot read label %q", series, kv)
			continue
		}
		pairs = append(pairs, [2]string{k, uq})
	}
	return pairs
}

func TestEndOf(t *testing.T) {
	for reason, want := range map[string]metrics.End{
		"client closed": metrics.EndClientClosed, "upstream closed": metrics.EndServerClosed,
		"upstream error": metrics.EndServerClosed, "idle timeout": metrics.EndIdleTimeout,
		"login timeout": metrics.EndLoginTimeout, "shutdown": metrics.EndShutdown,
		"client handshake failed": metrics.EndClientTLSFailed, "upstream dial failed": metrics.EndUpstreamDialFailed,
		"framing lost": metrics.EndError, "panic": metrics.EndError, "client write failed": metrics.EndError,
	} {
		if got := endOf(reason, false); got != want {
			t.Errorf("endOf(%q) = %v, want %v", reason, got, want)
		}
	}
	if got := endOf("client closed", true); got != metrics.EndClientQuit {
		t.Errorf("endOf after QUIT = %v", got)
	}
}

// TestMetricsBridgeRefusal: a credential line after the OAuth bridge's login is refused as the
// bridge's, counted as kind "oauth", not as a --deny refusal the configuration never asked for.
func TestMetricsBridgeRefusal(t *testing.T) {
	up := oauthUpstream(t, oauth.XOAUTH2)
	reg := metrics.New()
	p := startProxy(t, Config{OAuth: newFakeSource(), Metrics: reg}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	expectReplies(t, c, [2]string{"USER " + bridgeUser, "+OK"}, [2]string{"PASS " + bridgePassword, "+OK Logged in."})
	expectReplies(t, c, [2]string{"PASS " + bridgePassword, "-ERR [AUTH] popwire: this line is not passed on: the OAuth bridge logs in upstream itself."})
	s := waitSeries(t, reg, `popwire_policy_refusals_total{kind="oauth",route="default"}`, 1)
	expectSeries(t, s, map[string]float64{`popwire_policy_refusals_total{kind="deny",route="default"}`: 0})
}
