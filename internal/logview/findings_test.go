package logview

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// viewFindings runs View with Findings over testdata/findings.jsonl.
func viewFindings(t *testing.T, opts ViewOptions) string {
	t.Helper()
	opts.Findings = true
	var out bytes.Buffer
	if err := View(context.Background(), opts, []string{filepath.Join("testdata", "findings.jsonl")}, &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestViewFindingsGolden checks the text of `popwire view --findings`, without and with
// colour, against testdata/findings-report.txt and findings-report.color.txt.
func TestViewFindingsGolden(t *testing.T) {
	for _, colour := range []bool{false, true} {
		name := "findings-report.txt"
		if colour {
			name = "findings-report.color.txt"
		}
		t.Run(name, func(t *testing.T) {
			out := viewFindings(t, ViewOptions{Printer: PrinterOptions{Color: colour}})
			if hasEsc := strings.Contains(out, "\x1b["); hasEsc != colour {
				t.Errorf("colour %v but escape sequences present: %v", colour, hasEsc)
			}
			checkGolden(t, name, []byte(out))
		})
	}
}

// TestViewFindingsGroups checks the groups --findings --json writes: one per rule and side,
// counted, with the first session and evidence of each, the most frequent first; and that the
// filters choose the findings counted.
func TestViewFindingsGroups(t *testing.T) {
	groups := func(opts ViewOptions) []FindingGroup {
		t.Helper()
		opts.JSON = true
		var out []FindingGroup
		for line := range strings.Lines(viewFindings(t, opts)) {
			var g FindingGroup
			if err := json.Unmarshal([]byte(line), &g); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			out = append(out, g)
		}
		return out
	}
	all := groups(ViewOptions{})
	var got []string
	for _, g := range all {
		got = append(got, g.Rule+"/"+g.Side+"="+strconv.Itoa(g.Count)+"@"+g.FirstSession)
	}
	want := "bare-lf/server=2@a1b2c3d4 after-quit/client=1@a1b2c3d4 auth-resp-code/server=1@a1b2c3d4 " +
		"bare-lf/client=1@e5f6a7b8 status-indicator/server=1@c9d0e1f2 uid-chars/server=1@e5f6a7b8"
	if strings.Join(got, " ") != want {
		t.Errorf("groups\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	first := all[0]
	if first.RFC != "RFC 1939 §3" || !strings.HasPrefix(first.Requirement, "Every line ends in CRLF") ||
		first.FirstEvidence != `the status line ends in a bare LF, not CRLF: "+OK ready"` ||
		!first.FirstTime.Equal(time.Date(2025, 3, 14, 9, 26, 54, 652975504, time.UTC)) {
		t.Errorf("first group %+v", first)
	}
	if g := groups(ViewOptions{Filter: Filter{Session: sessB}}); len(g) != 3 || g[0].Count != 1 {
		t.Errorf("session %s: groups %+v, want its 3 findings", sessB, g)
	}
	if g := groups(ViewOptions{Filter: Filter{User: "alice"}}); len(g) != 3 {
		t.Errorf("user alice: groups %+v, want the 3 findings of her session", g)
	}
}

// TestFindingsAreErrors checks that --errors keeps finding events, as it keeps anomalies.
func TestFindingsAreErrors(t *testing.T) {
	var out bytes.Buffer
	opts := ViewOptions{Filter: Filter{Errors: true}, JSON: true}
	if err := View(context.Background(), opts, []string{filepath.Join("testdata", "findings.jsonl")}, &out); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range decodeAll(t, &out, "") {
		if e.Kind == KindFinding {
			n++
		}
	}
	if n != 7 {
		t.Errorf("--errors kept %d findings, want 7", n)
	}
}

// TestFindingsReportBounded checks that a log naming more rules than a report groups has the
// findings of further rules counted, not grouped, and that the text shows what it cannot hold
// safely.
func TestFindingsReportBounded(t *testing.T) {
	r := newFindingsReport()
	at := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	for i := range maxFindingGroups + 10 {
		r.add(&Event{Time: at, Session: "s", Kind: KindFinding,
			Finding: &Finding{Side: "server", Rule: "rule-" + strconv.Itoa(i), Evidence: "e\x1b[2J"}})
	}
	r.add(&Event{Kind: KindAnomaly, Text: "not a finding"})
	if len(r.order) != maxFindingGroups || r.other != 10 {
		t.Fatalf("%d groups and %d other findings, want %d and 10", len(r.order), r.other, maxFindingGroups)
	}
	var out bytes.Buffer
	if err := r.write(&out, false, false, time.UTC); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.HasPrefix(text, "266 findings of 256 rules\n") || !strings.Contains(text, "10 more findings of further rules") ||
		strings.Contains(text, "\x1b") {
		t.Errorf("report:\n%s", text)
	}
}
