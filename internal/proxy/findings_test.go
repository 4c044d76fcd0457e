package proxy

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
)

// findingsSession runs a session that breaks rules on both sides: the upstream lists
// AUTH-RESP-CODE but refuses PASS with a bare -ERR that echoes the password, and answers
// NOOP with a bare LF; the client sends NOOP with a bare LF and a command after QUIT. It
// returns the session's events once it has closed.
func findingsSession(t *testing.T, cfg Config, password, refusal string) []logview.Event {
	t.Helper()
	up := newUpstream(t, false, scriptReplies(map[string]string{
		"CAPA": "+OK\r\nUSER\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n.\r\n", "USER bob": "+OK\r\n",
		"PASS " + password: refusal, "NOOP": "+OK\n", "QUIT": "+OK bye\r\n",
	}))
	p := startProxy(t, cfg, up.addr())
	c := p.dial(t, false)
	c.line(t)
	c.send(t, "CAPA\r\n")
	for c.line(t) != ".\r\n" {
	}
	exchange(t, c, "USER bob\r\n", "PASS "+password+"\r\n", "NOOP\n")
	c.send(t, "QUIT\r\nNOOP\r\n")
	c.line(t)
	c.Close()
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	p.sink.mu.Lock()
	defer p.sink.mu.Unlock()
	return append([]logview.Event(nil), p.sink.ev...)
}

// TestFindingsAreLogged checks that the codec's findings become finding events that name the
// side, the rule, its RFC sections and requirement, and the evidence, with dir telling whose
// bytes they are about; that they are printed in the transcript; and that no evidence holds
// the password, which the server echoed.
func TestFindingsAreLogged(t *testing.T) {
	const pw = "hunter2-ab12"
	events := findingsSession(t, Config{}, pw, "-ERR bad password "+pw+"\r\n")
	got := map[string]logview.Event{}
	var text, js bytes.Buffer
	pr := logview.NewPrinter(&text, logview.PrinterOptions{})
	jw := logview.NewJSONWriter(&js)
	for _, e := range events {
		pr.Emit(e)
		jw.Emit(e)
		if e.Kind != logview.KindFinding {
			continue
		}
		f := e.Finding
		if f == nil || f.RFC == "" || f.Requirement == "" || f.Evidence == "" {
			t.Errorf("finding event without rule facts: %+v", e)
			continue
		}
		got[f.Side+" "+f.Rule] = e
	}
	for _, w := range []struct {
		key      string
		dir      logview.Dir
		evidence string
	}{
		{"server auth-resp-code", logview.DirServerToClient, `no response code: "-ERR bad password [redacted]"`},
		{"server bare-lf", logview.DirServerToClient, `the status line ends in a bare LF, not CRLF: "+OK"`},
		{"client bare-lf", logview.DirClientToServer, "the NOOP command line ends in a bare LF, not CRLF"},
		{"client after-quit", logview.DirClientToServer, "the NOOP command was sent after QUIT"},
	} {
		e, ok := got[w.key]
		switch {
		case !ok:
			t.Errorf("no %s finding; findings: %v", w.key, got)
		case e.Dir != w.dir || !strings.HasSuffix(e.Finding.Evidence, w.evidence):
			t.Errorf("%s: dir %q, evidence %q; want dir %q and evidence ending %q", w.key, e.Dir, e.Finding.Evidence, w.dir, w.evidence)
		}
	}
	if len(got) != 4 {
		t.Errorf("%d findings, want 4: %v", len(got), got)
	}
	if !strings.Contains(text.String(), "! finding server auth-resp-code (RFC 3206 §6, RFC 2449 §8): CAPA listed") {
		t.Errorf("transcript without the finding:\n%s", text.String())
	}
	for name, out := range map[string]string{"transcript": text.String(), "JSON log": js.String()} {
		if strings.Contains(out, pw) {
			t.Errorf("the %s holds the password:\n%s", name, out)
		}
	}
}

// TestFindingEvidenceIsScrubbedThenCut checks that a server line quoted as evidence is cut
// only after the session's secrets are taken out of it, so that a secret across the cut
// leaves no part of itself and the marker shows whole; and that --reveal-credentials shows
// the secret.
func TestFindingEvidenceIsScrubbedThenCut(t *testing.T) {
	const pw = "Zq8-secret-Wx3"
	evidence := func(cfg Config, refusal string) string {
		t.Helper()
		for _, e := range findingsSession(t, cfg, pw, refusal) {
			if e.Kind == logview.KindFinding && e.Finding.Rule == "auth-resp-code" {
				return e.Finding.Evidence
			}
		}
		t.Fatalf("no auth-resp-code finding")
		return ""
	}
	ev := evidence(Config{}, "-ERR "+strings.Repeat("x", maxEvidenceLine-10)+pw+strings.Repeat("y", 40)+"\r\n")
	if !strings.HasSuffix(ev, "[redacted]\"…") {
		t.Errorf("evidence not cut after the whole marker: %q", ev)
	}
	for i := 4; i <= len(pw); i++ {
		if strings.Contains(ev, pw[:i]) {
			t.Errorf("evidence holds %q, part of the password: %q", pw[:i], ev)
			break
		}
	}
	if ev := evidence(Config{Log: LogOptions{RevealCredentials: true}}, "-ERR bad password "+pw+"\r\n"); !strings.Contains(ev, pw) {
		t.Errorf("--reveal-credentials: evidence without the password: %q", ev)
	}
}

// TestLogFormatListsEveryRule checks that docs/log-format.md has a row for every rule the
// codec checks, with its RFC sections.
func TestLogFormatListsEveryRule(t *testing.T) {
	doc, err := os.ReadFile("../../docs/log-format.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, l := range strings.Split(string(doc), "\n") {
		if name, rest, ok := strings.Cut(strings.TrimPrefix(l, "| **`"), "`** |"); ok && strings.HasPrefix(l, "| **`") {
			rows[name] = rest
		}
	}
	n := 0
	for r := codec.Rule(1); r.String() != ""; r++ {
		n++
		if row, ok := rows[r.String()]; !ok || !strings.Contains(row, "| "+r.RFC()+" |") {
			t.Errorf("rule %s (%s): row %q", r, r.RFC(), row)
		}
	}
	if len(rows) != n {
		t.Errorf("the rules table has %d rows, the codec %d rules", len(rows), n)
	}
}
