package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// TestFindingsDovecot fetches the full mailbox (stored with bare LF, without a final newline,
// with dot lines, NULs and bare CRs in the content, 20 MiB) with poplib through popwire's
// plaintext listener and STLS, then runs a hand-written session that breaks two client rules.
// The JSON log must hold no finding about Dovecot: its LIST and "+OK N octets" sizes agree
// with what RETR delivers as popwire counts it, and its lines and UIDs are well formed. It
// must hold exactly the client's findings: poplib's stls() asks CAPA before STLS and never
// after (capa-after-stls), and the hand-written session sends a bare LF and a command after
// QUIT. `popwire view --findings` groups them, each with its first session.
func TestFindingsDovecot(t *testing.T) {
	t.Parallel()
	py := python(t)
	d := dovecotInstance(t)
	pw := startPopwire(t, d, popwireOpts{logFile: true})
	localCA := popwireCA(t)

	got := poplibFetch(t, py, "stls", pw.plainPort, localCA, userPoplib)
	checkMailbox(t, "poplib", got, d.full)
	if err := breakClientRules(pw.plainAddr); err != nil {
		t.Fatal(err)
	}
	pw.stop(t)

	events := readEvents(t, pw.jsonLog)
	poplibSession := map[string]bool{}
	for _, e := range events {
		if e.User == userPoplib {
			poplibSession[e.Session] = true
		}
	}
	var findings []string
	first := map[string]string{} // rule → session of its first finding
	for _, e := range events {
		if e.Kind != logview.KindFinding {
			continue
		}
		f := e.Finding
		who := "hand"
		if poplibSession[e.Session] {
			who = "poplib"
		}
		findings = append(findings, who+" "+f.Side+" "+f.Rule)
		if first[f.Rule] == "" {
			first[f.Rule] = e.Session
		}
		if f.Side == "server" {
			t.Errorf("a finding about Dovecot: %s (%s): %s", f.Rule, f.RFC, f.Evidence)
		}
	}
	slices.Sort(findings)
	want := []string{"hand client after-quit", "hand client bare-lf", "poplib client capa-after-stls"}
	if !slices.Equal(findings, want) {
		t.Errorf("findings %q, want %q", findings, want)
	}

	out, err := runCmd(30*time.Second, popwireEnv(), popwireBinary(t), "view", "--findings", pw.jsonLog)
	if err != nil {
		t.Fatalf("popwire view --findings: %v\n%s", err, out)
	}
	view := string(out)
	for _, w := range []string{
		"3 findings of 3 rules\n",
		"capa-after-stls · client · RFC 2595 §4, RFC 2449 §5 — 1 finding, first in session " + first["capa-after-stls"],
		"bare-lf · client · RFC 1939 §3 — 1 finding, first in session " + first["bare-lf"],
		"    first: the NOOP command line ends in a bare LF, not CRLF\n",
		"after-quit · client · RFC 1939 §4, §6 — 1 finding, first in session " + first["after-quit"],
	} {
		if !strings.Contains(view, w) {
			t.Errorf("view --findings does not show %q:\n%s", w, view)
		}
	}
	out, err = runCmd(30*time.Second, popwireEnv(), popwireBinary(t), "view", "--findings", "--json", pw.jsonLog)
	if err != nil {
		t.Fatalf("popwire view --findings --json: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		var g logview.FindingGroup
		if err := json.Unmarshal([]byte(line), &g); err != nil || g.Count != 1 || g.FirstSession != first[g.Rule] {
			t.Errorf("view --findings --json line %q: %+v, %v", line, g, err)
		}
	}
}

// breakClientRules speaks to popwire's plaintext listener the way a sloppy client does: NOOP
// ended by a bare LF, then NOOP after QUIT in the same write.
func breakClientRules(addr string) error {
	p, err := dialPOP(addr, "", "")
	if err != nil {
		return err
	}
	defer p.conn.Close()
	if _, err := io.WriteString(p.conn, "NOOP\n"); err != nil {
		return fmt.Errorf("e2e: write: %w", err)
	}
	if _, err := p.line(); err != nil {
		return err
	}
	if _, err := p.cmd("QUIT\r\nNOOP"); err != nil {
		return err
	}
	if rest, err := io.ReadAll(p.r); len(rest) > 0 {
		return fmt.Errorf("e2e: after QUIT the server sent %q (%v)", rest, err)
	}
	return nil
}
