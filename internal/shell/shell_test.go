package shell

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/popclient/popclienttest"
)

const secret = "hunter2 with spaces!"

var replies = map[string]string{
	"CAPA":                                 "+OK\r\nTOP\r\nUSER\r\nSASL PLAIN\r\n.\r\n",
	"USER alice":                           "+OK\r\n",
	"PASS " + secret:                       "+OK Logged in.\r\n",
	"PASS":                                 "-ERR [AUTH] Authentication failed.\r\n",
	"AUTH":                                 "+OK\r\nPLAIN\r\n.\r\n",
	"AUTH PLAIN":                           "+ \r\n",
	"AGFsaWNlAGh1bnRlcjIgd2l0aCBzcGFjZXMh": "+OK Logged in.\r\n",
	"LIST":                                 "+OK 2 messages:\r\n1 120\r\n2 300\r\n.\r\n",
	"UIDL":                                 "-ERR [SYS/TEMP] not now\r\n",
	"TOP":                                  "-ERR no such message\r\n",
	"RETR 1":                               "+OK 40 octets\r\nSubject: \x1b[31mred\r\n\r\n..hidden dot\r\nbody\r\n.\r\n",
	"QUIT":                                 "+OK Logging out.\r\n",
}

// run drives the shell with script against a fake server and returns its output, the lines
// the server received and the error.
func run(t *testing.T, cfg popclienttest.Config, o Options, script string) (string, []string, error) {
	t.Helper()
	if cfg.Replies == nil {
		cfg.Replies = replies
	}
	srv := popclienttest.Start(t, cfg)
	o.Addr = srv.Addr
	var out bytes.Buffer
	in := NewScript(strings.NewReader(script), &out, func() (string, error) { return secret, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Run(ctx, o, in, &out)
	return out.String(), srv.Lines(), err
}

func TestScript(t *testing.T) {
	certs := popclienttest.NewCerts(t, false, "pop.test")
	tests := []struct {
		name   string
		cfg    popclienttest.Config
		opts   Options
		script string
		want   []string // substrings of the output, in order
		sent   []string // lines the server must have got
		err    error
	}{
		{
			name:   "multi-line replies and -ERR to multi-line commands",
			cfg:    popclienttest.Config{TLS: certs.Server},
			opts:   Options{ServerName: "pop.test", RootCAs: certs.Pool},
			script: "CAPA\nUSER alice\nPASS\nLIST\nUIDL\nTOP 9 0\nAUTH\nRETR 1\nQUIT\nNOOP\n",
			want: []string{"TLS: TLS 1.3", "+OK popclienttest ready", "> CAPA", "SASL PLAIN", ". (3 lines",
				"> PASS [redacted]", "+OK Logged in.", "1 120\n2 300\n.", "-ERR [SYS/TEMP] not now", "-ERR no such message",
				"> AUTH\n+OK\nPLAIN\n.", "Subject: ␛[31mred\n\n.hidden dot\nbody\n. (4 lines", "+OK Logging out."},
			sent: []string{"CAPA", "USER alice", "PASS " + secret, "LIST", "UIDL", "TOP 9 0", "AUTH", "RETR 1", "QUIT"},
		},
		{
			name:   "password typed inline, SASL answer, Ctrl-D without QUIT",
			cfg:    popclienttest.Config{TLS: certs.Server, STLS: true},
			opts:   Options{Mode: popclient.UpstreamSTARTTLS, ServerName: "pop.test", RootCAs: certs.Pool},
			script: "USER alice\nPASS " + secret + "\nAUTH PLAIN\nAGFsaWNlAGh1bnRlcjIgd2l0aCBzcGFjZXMh\n",
			want:   []string{"sending STLS", "+OK Begin TLS", "TLS: ", "> PASS [redacted]", "> AUTH PLAIN", "+ ", `> authcid="alice" password=[redacted]`, "+OK Logged in.", QuitReminder},
			sent:   []string{"STLS", "USER alice", "PASS " + secret, "AUTH PLAIN", "AGFsaWNlAGh1bnRlcjIgd2l0aCBzcGFjZXMh"},
		},
		{
			name:   "plaintext, history line with a redacted secret asks again",
			opts:   Options{Mode: popclient.UpstreamPlaintext},
			script: "USER alice\nPASS [redacted]\nDELE [redacted]\nQUIT\n",
			want:   []string{"> PASS [redacted]", "+OK Logged in.", "type it again", "+OK Logging out."},
			sent:   []string{"USER alice", "PASS " + secret, "QUIT"},
		},
		{
			name:   "server hangs up",
			cfg:    popclienttest.Config{Replies: map[string]string{"NOOP": "-ERR Disconnected for inactivity.\r\n", "QUIT": ""}},
			opts:   Options{Mode: popclient.UpstreamPlaintext},
			script: "NOOP\nQUIT\nNOOP\n",
			want:   []string{"-ERR Disconnected", "the server closed the connection"},
			err:    ErrServerClosed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, sent, err := run(t, tc.cfg, tc.opts, tc.script)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Run: %v, want %v\n%s", err, tc.err, out)
			}
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(out, secret) || strings.Contains(out, "AGFsaWNlAGh1bnRlcjIgd2l0aCBzcGFjZXMh") {
				t.Errorf("output holds the secret:\n%s", out)
			}
			if tc.sent != nil && strings.Join(sent, "\n") != strings.Join(tc.sent, "\n") {
				t.Errorf("server got %q, want %q", sent, tc.sent)
			}
		})
	}
}

// TestInterrupt ends the session when ctx is cancelled while a reply is awaited: no QUIT is
// sent and the reminder is printed.
func TestInterrupt(t *testing.T) {
	srv := popclienttest.Start(t, popclienttest.Config{Replies: map[string]string{"LIST": "+OK\r\n1 1\r\n"}})
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	in := NewScript(strings.NewReader("LIST\nQUIT\n"), &out, nil)
	err := Run(ctx, Options{Addr: srv.Addr, Mode: popclient.UpstreamPlaintext}, in, &out)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v, want the context's error\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), QuitReminder) {
		t.Errorf("no reminder in\n%s", out.String())
	}
	if got := srv.Lines(); len(got) != 1 || got[0] != "LIST" {
		t.Errorf("server got %q, want only LIST", got)
	}
}

// fakeTTY is a terminal: input is what the user types, output what the screen receives.
type fakeTTY struct {
	in  *strings.Reader
	out bytes.Buffer
}

func (f *fakeTTY) Read(p []byte) (int, error)  { return f.in.Read(p) }
func (f *fakeTTY) Write(p []byte) (int, error) { return f.out.Write(p) }

// TestTerminal checks that a typed PASS secret is overwritten on screen and kept in the
// history only as "PASS [redacted]", and that a bare PASS reads without echo.
func TestTerminal(t *testing.T) {
	tty := &fakeTTY{in: strings.NewReader("PASS " + secret + "\rPASS\r" + secret + "\r\x04")}
	raw := func() (func(), error) { return func() {}, nil }
	size := func() (int, error) { return 200, nil }
	term := newTerminal(tty, raw, size)
	line, err := term.ReadLine()
	if err != nil || line != "PASS "+secret {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	term.Echo(line, "PASS "+codec.Redacted)
	if !strings.HasSuffix(tty.out.String(), "\x1b[1A\r\x1b[J"+Prompt+"PASS [redacted]\n") {
		t.Errorf("screen not overwritten: %q", tty.out.String())
	}
	if line, err = term.ReadLine(); err != nil || line != "PASS" {
		t.Fatalf("ReadLine = %q, %v", line, err)
	}
	mark := tty.out.Len()
	pw, err := term.Password()
	if err != nil || pw != secret {
		t.Fatalf("Password = %q, %v", pw, err)
	}
	if strings.Contains(tty.out.String()[mark:], secret) {
		t.Errorf("password echoed: %q", tty.out.String()[mark:])
	}
	term.Echo("PASS "+pw, "PASS "+codec.Redacted)
	if _, err := term.ReadLine(); err == nil {
		t.Error("Ctrl-D did not end the input")
	}
	if term.hist.Len() != 1 || term.hist.At(0) != "PASS [redacted]" {
		t.Errorf("history = %q, want only the redacted line", term.hist.lines)
	}
}

// TestTerminalOverwritesLineWithTrailingBlank types a password with a blank after it: the
// shell sends the trimmed line, and the screen must still be overwritten.
func TestTerminalOverwritesLineWithTrailingBlank(t *testing.T) {
	tty := &fakeTTY{in: strings.NewReader("PASS " + secret + " ")}
	term := newTerminal(tty, func() (func(), error) { return func() {}, nil }, func() (int, error) { return 200, nil })
	line, err := term.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	term.Echo(strings.TrimSpace(line), "PASS "+codec.Redacted)
	if !strings.HasSuffix(tty.out.String(), "\x1b[1A\r\x1b[J"+Prompt+"PASS [redacted]\n") {
		t.Errorf("screen not overwritten: %q", tty.out.String())
	}
}

// TestHostileServerText sends bidirectional and C1 controls in every kind of reply the shell
// prints: none reaches the output, each is shown as U+FFFD.
func TestHostileServerText(t *testing.T) {
	const evil = "\u202egnp.exe\u2066\u009b2J\u200f\x9b"
	const shown = "\uFFFDgnp.exe\uFFFD\uFFFD2J\uFFFD\uFFFD"
	cfg := popclienttest.Config{
		Greeting: "+OK ready " + evil,
		Replies: map[string]string{
			"LIST":   "+OK " + evil + "\r\n1 " + evil + "\r\n.\r\n",
			"RETR 1": "+OK\r\nSubject: " + evil + "\tx\r\n.\r\n",
			"DELE 1": "-ERR " + evil + "\r\n",
			"QUIT":   "+OK bye\r\n",
		},
	}
	out, _, err := run(t, cfg, Options{Mode: popclient.UpstreamPlaintext}, "LIST\nRETR 1\nDELE 1\nQUIT\n")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	for _, bad := range []string{"\u202e", "\u2066", "\u009b", "\u200f", "\x9b"} {
		if strings.Contains(out, bad) {
			t.Errorf("output holds %q:\n%s", bad, out)
		}
	}
	rest := out
	for _, w := range []string{"+OK ready " + shown, "+OK " + shown, "1 " + shown, "Subject: " + shown + "\tx\n", "-ERR " + shown} {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("output lacks %q (in order):\n%s", w, out)
		}
		rest = rest[i+len(w):]
	}
}

// TestServerEchoOfASecret: a server that echoes the password (some do, in their -ERR) does not
// put it on the screen; the shell shows the marker in its place, as for what was typed.
func TestServerEchoOfASecret(t *testing.T) {
	cfg := popclienttest.Config{Replies: map[string]string{
		"USER bob":       "+OK\r\n",
		"PASS " + secret: "-ERR [AUTH] bad password " + secret + " for bob\r\n",
		"AUTH PLAIN":     "+ \r\n",
		"NOOP":           "+OK you said " + secret + "\r\n",
		"QUIT":           "+OK bye\r\n",
	}}
	out, _, err := run(t, cfg, Options{Mode: popclient.UpstreamPlaintext}, "USER bob\nPASS\nNOOP\nQUIT\n")
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	if strings.Contains(out, secret) {
		t.Fatalf("the screen shows the password:\n%s", out)
	}
	if !strings.Contains(out, "-ERR [AUTH] bad password "+codec.Redacted+" for bob") {
		t.Fatalf("the echo is not shown redacted:\n%s", out)
	}
}
