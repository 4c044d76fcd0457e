package proxy

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/popwire/popwire/internal/logview"
)

// TestLocalAnswersAreLoggedLocal checks that the commands popwire answers itself (a refused
// STLS, denied commands, a denied QUIT) are logged as not forwarded, and that a QUIT that was
// denied does not count as sent.
func TestLocalAnswersAreLoggedLocal(t *testing.T) {
	up := newUpstream(t, false, scriptReplies(map[string]string{"NOOP": "+OK\r\n"}))
	p := startProxyCert(t, Config{Deny: []string{"DELE", "QUIT"}}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	c.send(t, "STLS\r\n")
	c.line(t)
	c.send(t, "DELE 1\r\nNOOP\r\nQUIT\r\n")
	for range 3 {
		c.line(t)
	}
	c.Close()
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	var text bytes.Buffer
	pr := logview.NewPrinter(&text, logview.PrinterOptions{})
	for _, e := range p.sink.kinds(logview.KindCommand) {
		want := logview.DirLocal
		if e.Verb == "NOOP" {
			want = logview.DirClientToServer
		}
		if e.Dir != want {
			t.Errorf("%s logged with dir %q, want %q", e.Verb, e.Dir, want)
		}
		pr.Emit(e)
	}
	if n := strings.Count(text.String(), "(not forwarded)"); n != 3 {
		t.Errorf("%d commands printed as not forwarded, want 3:\n%s", n, text.String())
	}
	if s := p.sink.kinds(logview.KindClose)[0].Summary; s.QuitSent || s.Committed {
		t.Errorf("a denied QUIT counts as sent: %+v", s)
	}
}

// TestAnomaliesCarryDir checks that anomaly and finding events say whose bytes they are
// about in dir, as the log format and the printer have it.
func TestAnomaliesCarryDir(t *testing.T) {
	up := newUpstream(t, false, func(u *upstreamConn) {
		u.write(greeting)
		u.line()
		u.write("+OK bare LF\n")
		u.line()
	})
	p := startProxy(t, Config{}, up.addr())
	c := p.dial(t, false)
	c.line(t)
	c.send(t, "NOOP\n")
	c.line(t)
	c.send(t, "STLS\r\nNOOP\r\n")
	c.Close()
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	dirs := map[logview.Dir]bool{}
	for _, e := range append(p.sink.kinds(logview.KindAnomaly), p.sink.kinds(logview.KindFinding)...) {
		if e.Leg != "" || e.Dir == "" {
			t.Errorf("anomaly with leg %q and dir %q: %s", e.Leg, e.Dir, e.Text)
		}
		dirs[e.Dir] = true
	}
	if !dirs[logview.DirClientToServer] || !dirs[logview.DirServerToClient] {
		t.Errorf("anomalies and findings of the client and of the server, want both: %v", dirs)
	}
}

// TestInsecureSkipVerifyRecordsVerification checks that with verification off the upstream's
// TLS event still tells whether the certificate would have verified, and why not.
func TestInsecureSkipVerifyRecordsVerification(t *testing.T) {
	good, other := pkis(t)
	up := newUpstream(t, false, func(u *upstreamConn) { u.write(greeting); u.line() })
	for _, tt := range []struct {
		name  string
		roots *x509.CertPool
		want  string
	}{
		{"a certificate that verifies", good.pool, "would verify"},
		{"an unknown CA", other.pool, "unknown authority"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, Config{InsecureSkipVerify: true, UpstreamRoots: tt.roots}, up.addr())
			c := p.dial(t, false)
			c.line(t)
			e := p.sink.find(t, "tls", func(e logview.Event) bool { return e.Kind == logview.KindTLS && e.Leg == "upstream" })
			if e.TLS.Verified || !strings.Contains(e.TLS.VerifyErr, "--insecure-skip-verify") || !strings.Contains(e.TLS.VerifyErr, tt.want) {
				t.Errorf("upstream TLS: verified %v, verify_error %q; want not verified and %q", e.TLS.Verified, e.TLS.VerifyErr, tt.want)
			}
		})
	}
}
