package probe

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/popclient/popclienttest"
)

const (
	testUser     = "alice"
	testPassword = "pw with spaces S3cr3t!"
)

// okScript is a well-behaved server's replies; cases override entries.
func okScript(over map[string]string) map[string]string {
	m := map[string]string{
		"CAPA": "+OK\r\nTOP\r\nUSER\r\nRESP-CODES\r\nLOGIN-DELAY 300\r\nSASL PLAIN LOGIN\r\nX-GOOGLE-RICO\r\n.\r\n",
		"USER": "+OK\r\n",
		"PASS": "+OK Logged in.\r\n",
		"AUTH": "+OK Logged in.\r\n",
		"STAT": "+OK 3 221409\r\n",
		"QUIT": "+OK Logging out.\r\n",
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

func TestRun(t *testing.T) {
	good := popclienttest.NewCerts(t, false, "pop.test", "127.0.0.1")
	other := popclienttest.NewCerts(t, false, "pop.test")
	self := popclienttest.NewCerts(t, true, "pop.test")
	wrongName := popclienttest.NewCerts(t, false, "other.test")
	gmailNoSNI := popclienttest.NewCerts(t, false, "invalid2.invalid")
	closed := closedPort(t)

	tests := []struct {
		name     string
		server   *popclienttest.Config // nil: dial addr
		addr     string
		opts     Options
		ok       bool
		failStep string // the failed step, "" when ok
		hint     string // substring of that step's hint
		sent     []string
	}{
		{
			name:   "implicit TLS, AUTH PLAIN",
			server: &popclienttest.Config{TLS: good.Server, Greeting: "+OK ready <42.7@pop.test>", Replies: okScript(nil)},
			opts:   Options{ServerName: "pop.test", RootCAs: good.Pool, User: testUser, Password: testPassword},
			ok:     true,
			sent:   []string{"CAPA", "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+testUser+"\x00"+testPassword)), "STAT", "QUIT"},
		},
		{
			name:   "STLS, USER/PASS",
			server: &popclienttest.Config{TLS: good.Server, STLS: true, Replies: okScript(nil)},
			opts:   Options{StartTLS: true, ServerName: "pop.test", RootCAs: good.Pool, User: testUser, Password: testPassword, Auth: "user"},
			ok:     true,
			sent:   []string{"STLS", "CAPA", "USER " + testUser, "PASS " + testPassword, "STAT", "QUIT"},
		},
		{
			name:   "no login",
			server: &popclienttest.Config{TLS: good.Server, Replies: okScript(nil)},
			opts:   Options{RootCAs: good.Pool},
			ok:     true,
			sent:   []string{"CAPA", "QUIT"},
		},
		{
			name:   "insecure skip verify says it would fail",
			server: &popclienttest.Config{TLS: self.Server, Replies: okScript(nil)},
			opts:   Options{ServerName: "pop.test", InsecureSkipVerify: true},
			ok:     true,
			hint:   "--upstream-ca",
		},
		{
			name:     "unknown authority",
			server:   &popclienttest.Config{TLS: good.Server},
			opts:     Options{ServerName: "pop.test", RootCAs: other.Pool},
			failStep: StepTLS, hint: "private CA): pass the CA certificate (PEM) with --upstream-ca",
		},
		{
			name:     "self-signed",
			server:   &popclienttest.Config{TLS: self.Server},
			opts:     Options{ServerName: "pop.test", RootCAs: good.Pool},
			failStep: StepTLS, hint: "self-signed",
		},
		{
			name:     "wrong name",
			server:   &popclienttest.Config{TLS: wrongName.Server},
			opts:     Options{ServerName: "pop.test", RootCAs: wrongName.Pool},
			failStep: StepTLS, hint: "not valid for pop.test (it names other.test)",
		},
		{
			name:     "Gmail without SNI",
			server:   &popclienttest.Config{TLS: gmailNoSNI.Server},
			opts:     Options{RootCAs: gmailNoSNI.Pool},
			failStep: StepTLS, hint: "invalid2.invalid",
		},
		{
			name:     "TLS on an STLS port",
			server:   &popclienttest.Config{Replies: okScript(nil)},
			opts:     Options{RootCAs: good.Pool},
			failStep: StepTLS, hint: "add --starttls",
		},
		{
			name:     "STLS on an implicit-TLS port",
			server:   &popclienttest.Config{TLS: good.Server},
			opts:     Options{StartTLS: true, RootCAs: good.Pool, Timeout: 300 * time.Millisecond},
			failStep: StepGreeting, hint: "drop --starttls",
		},
		{
			name:     "STLS refused",
			server:   &popclienttest.Config{Replies: okScript(map[string]string{"STLS": "-ERR TLS support isn't enabled.\r\n"})},
			opts:     Options{StartTLS: true},
			failStep: StepSTLS, hint: "does not offer STLS",
			sent: []string{"STLS", "QUIT"},
		},
		{
			name:     "connection refused",
			addr:     closed,
			failStep: StepConnect, hint: "connection refused",
		},
		{
			name:     "bad address",
			addr:     "pop.gmail.com",
			failStep: StepDNS, hint: "HOST:PORT",
		},
		{
			name:     "AUTH failure",
			server:   &popclienttest.Config{TLS: good.Server, Replies: okScript(map[string]string{"AUTH": "-ERR [AUTH] Authentication failed.\r\n"})},
			opts:     Options{RootCAs: good.Pool, User: testUser, Password: testPassword},
			failStep: StepLogin, hint: "check the user name and the password",
			sent: []string{"CAPA", "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+testUser+"\x00"+testPassword)), "QUIT"},
		},
		{
			name:     "Gmail app password",
			server:   &popclienttest.Config{TLS: good.Server, Replies: okScript(map[string]string{"AUTH": "-ERR [AUTH] Application-specific password required: https://support.google.com/mail/?p=InvalidSecondFactor\r\n"})},
			opts:     Options{RootCAs: good.Pool, User: testUser, Password: testPassword},
			failStep: StepLogin, hint: "apppasswords",
		},
		{
			name:     "in use",
			server:   &popclienttest.Config{TLS: good.Server, Replies: okScript(map[string]string{"PASS": "-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n"})},
			opts:     Options{RootCAs: good.Pool, User: testUser, Password: testPassword, Auth: "user"},
			failStep: StepLogin, hint: "locked by another session",
		},
		{
			name:     "login delay",
			server:   &popclienttest.Config{TLS: good.Server, Replies: okScript(map[string]string{"PASS": "-ERR [LOGIN-DELAY] wait\r\n"})},
			opts:     Options{RootCAs: good.Pool, User: testUser, Password: testPassword, Auth: "user"},
			failStep: StepLogin, hint: "300 seconds",
		},
		{
			name:     "sys temp",
			server:   &popclienttest.Config{TLS: good.Server, Replies: okScript(map[string]string{"USER": "-ERR [SYS/TEMP] backend down\r\n"})},
			opts:     Options{RootCAs: good.Pool, User: testUser, Password: testPassword, Auth: "user"},
			failStep: StepLogin, hint: "temporary problem",
			sent: []string{"CAPA", "USER " + testUser, "QUIT"},
		},
		{
			name:     "server echoes the password",
			server:   &popclienttest.Config{TLS: good.Server, Replies: okScript(map[string]string{"PASS": "-ERR [AUTH] bad password " + testPassword + "\r\n"})},
			opts:     Options{RootCAs: good.Pool, User: testUser, Password: testPassword, Auth: "user"},
			failStep: StepLogin, hint: "[AUTH]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var srv *popclienttest.Server
			o := tc.opts
			o.Addr = tc.addr
			if tc.server != nil {
				srv = popclienttest.Start(t, *tc.server)
				o.Addr = srv.Addr
			}
			if o.Timeout == 0 {
				o.Timeout = 5 * time.Second
			}
			r := Run(context.Background(), o)
			text, js := render(t, r)
			if r.OK != tc.ok {
				t.Fatalf("OK = %v, want %v\n%s", r.OK, tc.ok, text)
			}
			last := r.Steps[len(r.Steps)-1]
			failed := r.Steps[0]
			for _, s := range r.Steps {
				if !s.OK {
					failed = s
					break
				}
			}
			if tc.failStep != "" {
				if failed.OK || failed.Name != tc.failStep {
					t.Fatalf("failed step %q (ok %v), want %q\n%s", failed.Name, failed.OK, tc.failStep, text)
				}
			} else if last.Name != StepQUIT {
				t.Errorf("last step %q, want quit\n%s", last.Name, text)
			}
			if tc.hint != "" && !strings.Contains(text, tc.hint) {
				t.Errorf("no hint %q in\n%s", tc.hint, text)
			}
			for _, out := range []string{text, js} {
				for _, secret := range secretsOf(testUser, testPassword) {
					if strings.Contains(out, secret) {
						t.Errorf("output holds the password (%q):\n%s", secret, out)
					}
				}
			}
			if srv != nil && tc.sent != nil {
				if got := srv.Lines(); strings.Join(got, "\n") != strings.Join(tc.sent, "\n") {
					t.Errorf("server got %q, want %q", got, tc.sent)
				}
			}
		})
	}
}

// render returns the text and JSON forms of r.
func render(t *testing.T, r *Report) (string, string) {
	t.Helper()
	var text, js bytes.Buffer
	if err := r.WriteText(&text, false); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	return text.String(), js.String()
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestNXDOMAIN resolves through a fake DNS server on loopback that answers NXDOMAIN.
func TestNXDOMAIN(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go nxdomain(pc)
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
	tests := []struct{ host, hint string }{
		{"pop3.gmail.com", "did you mean pop.gmail.com?"},
		{"gmail.com", "did you mean pop.gmail.com?"},
		{"pop.nowhere.example", "does not exist in DNS (NXDOMAIN): check its spelling"},
	}
	for _, tc := range tests {
		r := Run(context.Background(), Options{Addr: tc.host + ":995", Resolver: res, Timeout: 5 * time.Second})
		text, _ := render(t, r)
		if r.OK || r.Steps[0].Name != StepDNS || !strings.Contains(r.Steps[0].Hint, tc.hint) {
			t.Errorf("%s: want a DNS failure with hint %q, got\n%s", tc.host, tc.hint, text)
		}
		if strings.HasSuffix(tc.host, ".example") && strings.Contains(text, "did you mean") {
			t.Errorf("%s: suggested a host:\n%s", tc.host, text)
		}
	}
}

// nxdomain answers every DNS query on pc with NXDOMAIN (RFC 1035 §4.1.1: QR set, RCODE 3),
// echoing the question.
func nxdomain(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		end := 12 // the question: QNAME labels, then QTYPE and QCLASS
		for end < n && buf[end] != 0 {
			end += int(buf[end]) + 1
		}
		end += 5
		if end > n {
			continue
		}
		resp := append([]byte(nil), buf[:end]...)
		resp[2] |= 0x80           // QR: response
		resp[3] = 0x80 | 0x03     // RA, RCODE NXDOMAIN
		resp[10], resp[11] = 0, 0 // no additional records
		pc.WriteTo(resp, from)
	}
}

func TestSuggestHost(t *testing.T) {
	tests := []struct{ host, want string }{
		{"pop3.gmail.com", "pop.gmail.com"},
		{"pop.gmial.com", "pop.gmail.com"},
		{"POP.GMAIL.COM.", ""},
		{"gmail.com", "pop.gmail.com"},
		{"pop.yahoo.com", "pop.mail.yahoo.com"},
		{"mail.example.org", ""},
	}
	for _, tc := range tests {
		if got := suggestHost(tc.host); got != tc.want {
			t.Errorf("suggestHost(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

// TestHostileServerText sends bidirectional and C1 controls in the greeting, a capability
// and a login error: none reaches the text report, each is shown as U+FFFD.
func TestHostileServerText(t *testing.T) {
	const evil = "\u202egnp.exe\u2066\u009b2J\u200f\x9b"
	const shown = "\uFFFDgnp.exe\uFFFD\uFFFD2J\uFFFD\uFFFD"
	certs := popclienttest.NewCerts(t, false, "pop.test")
	srv := popclienttest.Start(t, popclienttest.Config{TLS: certs.Server, Greeting: "+OK ready " + evil, Replies: okScript(map[string]string{
		"CAPA": "+OK\r\nUSER\r\nX-" + evil + "\r\n.\r\n",
		"PASS": "-ERR [AUTH] " + evil + "\r\n",
	})})
	r := Run(context.Background(), Options{Addr: srv.Addr, ServerName: "pop.test", RootCAs: certs.Pool,
		User: testUser, Password: testPassword, Auth: "user", Timeout: 5 * time.Second})
	text, _ := render(t, r)
	for _, bad := range []string{"\u202e", "\u2066", "\u009b", "\u200f", "\x9b"} {
		if strings.Contains(text, bad) {
			t.Errorf("report holds %q:\n%s", bad, text)
		}
	}
	rest := text
	for _, w := range []string{"+OK ready " + shown, "X-" + shown, "-ERR [AUTH] " + shown} {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("report lacks %q (in order):\n%s", w, text)
		}
		rest = rest[i+len(w):]
	}
}
