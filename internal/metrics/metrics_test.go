package metrics

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// value returns the value of the series named series ("name{labels}") in r's scrape, or -1.
func value(t *testing.T, r *Registry, series string) float64 {
	t.Helper()
	_, body := get(t, r.Handler(), "/metrics")
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return -1
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

func TestReadiness(t *testing.T) {
	var h Health
	mux := New().Mux(&h)
	if code, body := get(t, mux, "/readyz"); code != 503 || !strings.HasPrefix(body, "starting") {
		t.Errorf("before SetReady: %d %q", code, body)
	}
	h.SetReady()
	if code, body := get(t, mux, "/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("ready: %d %q", code, body)
	}
	h.SetNotReady("draining: popwire is shutting down")
	if code, body := get(t, mux, "/readyz"); code != 503 || body != "draining: popwire is shutting down\n" {
		t.Errorf("draining: %d %q", code, body)
	}
	if code, body := get(t, mux, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz while draining: %d %q", code, body)
	}
	if code, _ := get(t, mux, "/nothing"); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

func TestDroppedAndRefreshes(t *testing.T) {
	r := New()
	var lost int64
	r.DroppedFunc("stderr", func() int64 { return lost })
	r.DroppedFunc("log-file", func() int64 { return 2 * lost })
	lost = 3
	rt := r.Route("")
	for _, o := range []string{"ok", "ok", "refused", "user@example.com", ""} {
		rt.RefreshOutcome(o)
	}
	var nilRoute *Route
	nilRoute.RefreshOutcome("ok") // counts nothing, does not panic
	code, body := get(t, r.Mux(&Health{}), "/metrics")
	if code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	for _, want := range []string{
		`popwire_log_events_dropped_total{output="stderr"} 3`,
		`popwire_log_events_dropped_total{output="log-file"} 6`,
		`popwire_oauth_refreshes_total{outcome="ok",route="default"} 2`,
		`popwire_oauth_refreshes_total{outcome="refused",route="default"} 1`,
		`popwire_oauth_refreshes_total{outcome="other",route="default"} 2`,
		`popwire_oauth_refreshes_total{outcome="unreachable",route="default"} 0`,
		"go_goroutines ", "process_",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, "example.com") {
		t.Error("an unknown outcome became a label value")
	}
}

func TestSameRouteSharesSeries(t *testing.T) {
	r := New()
	a, b := r.Route("gmail"), r.Route("gmail")
	a.BytesUp(10)
	b.BytesUp(5)
	a.BytesDown(-1) // a failed write's n is never negative; ignore it if it were
	if got := value(t, r, `popwire_bytes_total{direction="client_to_server",route="gmail"}`); got != 15 {
		t.Errorf("bytes up = %v, want 15", got)
	}
	l := a.Listener("front")
	l.Open()
	l.Open()
	l.Close(EndClientQuit)
	l.Close(End(99))
	if got := value(t, r, `popwire_sessions_active{listener="front",route="gmail"}`); got != 0 {
		t.Errorf("active = %v", got)
	}
	if got := value(t, r, `popwire_sessions_total{end="error",listener="front",route="gmail"}`); got != 1 {
		t.Errorf("out-of-range end counted %v times as error", got)
	}
}

func TestClassifyTLS(t *testing.T) {
	timeout := &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, "verify"},
		{fmt.Errorf("popclient: upstream x verify failed: %w", x509.HostnameError{Host: "h", Certificate: &x509.Certificate{}}), "verify"},
		{context.DeadlineExceeded, "timeout"},
		{timeout, "timeout"},
		{io.EOF, "closed"},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, "closed"},
		{tls.AlertError(40), "protocol"},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "protocol"},
		{fmt.Errorf("wrapped: %w", errors.New("tls: client offered only unsupported versions: [301]")), "protocol"},
		{errors.New("something else"), "other"},
	} {
		if got := tlsReasonNames[classifyTLS(tt.err)]; got != tt.want {
			t.Errorf("classifyTLS(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestPromtoolCheck runs `promtool check metrics` (Debian's prometheus package) on a scrape
// with every family in use.
func TestPromtoolCheck(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("POPWIRE_E2E") == "require" {
			t.Fatal("promtool is not installed (Debian package prometheus)")
		}
		t.Skip("promtool is not installed (Debian package prometheus)")
	}
	r := New()
	r.DroppedFunc("stderr", func() int64 { return 1 })
	rt := r.Route("")
	l := rt.Listener("plain")
	l.Open()
	l.Close(EndClientQuit)
	l.Refused()
	rt.BytesUp(10)
	rt.BytesDown(100)
	rt.Command("USER")
	rt.Command("EVIL")
	rt.Reply(StatusOK)
	rt.Login("PASS", "", true)
	rt.Login("AUTH", "XOAUTH2 secret", false)
	rt.TLSFailure(LegUpstream, io.EOF)
	rt.UpstreamDial(3e6, 8e6)
	rt.Refused(RefusalDeny)
	rt.RefreshOutcome("ok")
	_, body := get(t, r.Handler(), "/metrics")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if strings.Contains(body, "secret") {
		t.Error("an AUTH argument reached the scrape")
	}
}
