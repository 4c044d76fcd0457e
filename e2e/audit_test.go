package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// TestAuditCommitted runs fetchmail without --keep through popwire with --log-file: the JSON
// log and `popwire view --summary` must show the retrieved messages (UID, subject, SHA-256) and
// that the deletions were committed, and the Maildir must be empty afterwards.
func TestAuditCommitted(t *testing.T) {
	t.Parallel()
	needTool(t, "fetchmail")
	d := dovecotInstance(t)
	d.refillSmall(t, userCommit)
	uids := uidlDirect(t, d, userCommit)
	pw := startPopwire(t, d, popwireOpts{logFile: true})

	got := runFetchmail(t, pw.plainPort, userCommit, plainRC, false)
	var want [][]byte
	for _, m := range d.small {
		want = append(want, m.served())
	}
	if g, w := sums(got), sums(want); !slices.Equal(g, w) {
		t.Errorf("fetchmail delivered sha256 %v, want %v", short(g), short(w))
	}
	if n := d.storedCount(t, userCommit); n != 0 {
		t.Errorf("after fetchmail's QUIT the Maildir holds %d messages, want 0", n)
	}
	pw.stop(t)

	s := userSession(t, readEvents(t, pw.jsonLog), userCommit)
	if s.close == nil || !s.close.Committed {
		t.Errorf("close summary %+v, want committed deletions", s.close)
	}
	checkDeleted(t, s, uids)
	for i, m := range d.small {
		info, ok := s.retrieved[uids[i]]
		switch {
		case !ok:
			t.Errorf("no RETR audit record for UID %s (%s)", uids[i], m.Name)
		case info.Subject != m.Subject || info.SHA256 != sum(m.served()) || info.Msg != i+1:
			t.Errorf("RETR audit for UID %s = msg %d subject %q sha256 %.12s, want msg %d %q %.12s",
				uids[i], info.Msg, info.Subject, info.SHA256, i+1, m.Subject, sum(m.served()))
		}
	}

	view := viewSummary(t, pw.jsonLog)
	for i, m := range d.small {
		for _, w := range []string{uids[i], m.Subject, sum(m.served())[:8]} {
			if !strings.Contains(view, w) {
				t.Errorf("view --summary does not show %q:\n%s", w, view)
			}
		}
	}
	if got := committedColumn(t, view, userCommit); !strings.HasPrefix(got, "yes") {
		t.Errorf("view --summary says committed %q for %s, want yes:\n%s", got, userCommit, view)
	}
}

// TestAuditKilled retrieves and deletes every message with a poplib client that exits without
// QUIT: popwire must close the upstream without QUIT, so the JSON log and `popwire view
// --summary` show uncommitted deletions and the mailbox still holds every message.
func TestAuditKilled(t *testing.T) {
	t.Parallel()
	py := python(t)
	d := dovecotInstance(t)
	uids := uidlDirect(t, d, userKilled)
	pw := startPopwire(t, d, popwireOpts{logFile: true})

	script, err := filepath.Abs("testdata/poplib_dele.py")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "POP_PASSWORD="+password(userKilled))
	if out, err := runCmd(time.Minute, env, py, script, "127.0.0.1", fmt.Sprint(pw.plainPort), userKilled); err != nil {
		t.Fatalf("poplib_dele.py: %v\n%s", err, out)
	}
	pw.stop(t)

	if n := d.storedCount(t, userKilled); n != len(d.small) {
		t.Errorf("the Maildir holds %d messages, want all %d: deletions were committed", n, len(d.small))
	}
	if again := uidlDirect(t, d, userKilled); !slices.Equal(again, uids) {
		t.Errorf("Dovecot now lists UIDs %v, want %v", again, uids)
	}
	s := userSession(t, readEvents(t, pw.jsonLog), userKilled)
	if s.close == nil || s.close.Committed {
		t.Errorf("close summary %+v, want deletions not committed", s.close)
	}
	checkDeleted(t, s, uids)
	checkUIDLListing(t, s, uids, pw)

	view := viewSummary(t, pw.jsonLog)
	for _, uid := range uids {
		if !strings.Contains(view, uid) {
			t.Errorf("view --summary does not show UID %s:\n%s", uid, view)
		}
	}
	if got := committedColumn(t, view, userKilled); !strings.HasPrefix(got, "no") {
		t.Errorf("view --summary says committed %q for %s, want no:\n%s", got, userKilled, view)
	}
}

// uidlDirect returns a user's UIDs in message order, asked directly from Dovecot.
func uidlDirect(t *testing.T, d *dovecot, user string) []string {
	t.Helper()
	p, err := dialPOP(loopback(d.tlsPort), d.ca.CertPEM, serverName)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.login(user); err != nil {
		t.Fatal(err)
	}
	body, err := p.multi("UIDL")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.quit(); err != nil {
		t.Fatal(err)
	}
	var uids []string
	for i, l := range strings.Split(strings.TrimSuffix(string(body), "\r\n"), "\r\n") {
		f := strings.Fields(l)
		if len(f) != 2 || f[0] != fmt.Sprint(i+1) {
			t.Fatalf("UIDL line %q", l)
		}
		uids = append(uids, f[1])
	}
	return uids
}

// readEvents decodes popwire's JSON-lines log.
func readEvents(t *testing.T, path string) []logview.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("popwire --log-file: %v", err)
	}
	defer f.Close()
	var events []logview.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e logview.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if e.V != logview.Version {
			t.Errorf("log line with schema version %d, want %d", e.V, logview.Version)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return events
}

// session is what the JSON log says about one session.
type session struct {
	deleted   []string                        // UIDs of delete events
	retrieved map[string]*logview.MessageInfo // RETR audit records by UID
	listings  map[string]*logview.Listing     // the last listing of a reply, by the verb it answers
	close     *logview.Summary
}

// userSession returns the one session in events that logged in as user.
func userSession(t *testing.T, events []logview.Event, user string) session {
	t.Helper()
	ids := map[string]bool{}
	for _, e := range events {
		if e.User == user && e.Session != "" {
			ids[e.Session] = true
		}
	}
	if len(ids) != 1 {
		t.Fatalf("log has %d sessions for user %s, want 1", len(ids), user)
	}
	s := session{retrieved: map[string]*logview.MessageInfo{}, listings: map[string]*logview.Listing{}}
	for _, e := range events {
		if !ids[e.Session] {
			continue
		}
		switch {
		case e.Kind == logview.KindDelete:
			s.deleted = append(s.deleted, e.UID)
		case e.Kind == logview.KindBody && e.Message != nil && !e.Message.Top:
			s.retrieved[e.Message.UID] = e.Message
		case e.Kind == logview.KindBody && e.Listing != nil:
			s.listings[e.Answers] = e.Listing
		case e.Kind == logview.KindClose:
			s.close = e.Summary
		}
	}
	return s
}

// checkDeleted requires the delete events and the close summary to list exactly uids.
func checkDeleted(t *testing.T, s session, uids []string) {
	t.Helper()
	if !slices.Equal(s.deleted, uids) {
		t.Errorf("delete events for UIDs %v, want %v", s.deleted, uids)
	}
	if s.close != nil && !slices.Equal(slices.Sorted(slices.Values(s.close.Deleted)), slices.Sorted(slices.Values(uids))) {
		t.Errorf("close summary lists deleted %v, want %v", s.close.Deleted, uids)
	}
}

// checkUIDLListing requires the JSON log to list the UIDL reply line by line, and the
// transcripts to show as much of it as their level asks: the first lines on popwire's stderr
// and in `popwire view` (replies, the default), every line with --transcript full, none with
// --transcript summary.
func checkUIDLListing(t *testing.T, s session, uids []string, pw *popwireProc) {
	t.Helper()
	var want []string
	for i, uid := range uids {
		want = append(want, fmt.Sprintf("%d %s", i+1, uid))
	}
	if l := s.listings["UIDL"]; l == nil || !slices.Equal(l.Lines, want) || l.OmittedLines != 0 {
		t.Errorf("UIDL listing in the JSON log = %+v, want the lines %q", l, want)
	}
	first := "│ " + want[0]
	if out := pw.output(); !strings.Contains(out, first) {
		t.Errorf("popwire's transcript does not show %q:\n%s", first, out)
	}
	for _, tc := range []struct {
		level string
		shown []string
	}{{"", want[:min(len(want), 5)]}, {"full", want}, {"summary", nil}} {
		args := []string{"view", "--color", "never", pw.jsonLog}
		if tc.level != "" {
			args = append(args, "--transcript", tc.level)
		}
		out, err := runCmd(30*time.Second, popwireEnv(), popwireBinary(t), args...)
		if err != nil {
			t.Fatalf("popwire %v: %v\n%s", args, err, out)
		}
		if n := strings.Count(string(out), "  │ "); n != len(tc.shown) {
			t.Errorf("popwire %v shows %d reply lines, want %d:\n%s", args, n, len(tc.shown), out)
		}
		for _, line := range tc.shown {
			if !strings.Contains(string(out), "│ "+line+"\n") {
				t.Errorf("popwire %v does not show %q:\n%s", args, line, out)
			}
		}
	}
}

// committedColumn returns the COMMITTED column of user's row in `view --summary` output.
func committedColumn(t *testing.T, view, user string) string {
	t.Helper()
	lines := strings.Split(view, "\n")
	col := strings.Index(lines[0], "COMMITTED")
	if col < 0 {
		t.Fatalf("view --summary has no COMMITTED column:\n%s", view)
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 2 && f[2] == user && len(l) > col {
			return l[col:]
		}
	}
	t.Fatalf("view --summary has no row for %s:\n%s", user, view)
	return ""
}

// viewSummary runs `popwire view --summary` on a log file and returns its output.
func viewSummary(t *testing.T, path string) string {
	t.Helper()
	out, err := runCmd(30*time.Second, popwireEnv(), popwireBinary(t), "view", "--summary", path)
	if err != nil {
		t.Fatalf("popwire view --summary: %v\n%s", err, out)
	}
	return string(out)
}
