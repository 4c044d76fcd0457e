package logview

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	sessA = "a1b2c3d4" // alice: RETR, DELE, QUIT committed
	sessB = "e5f6a7b8" // bob: SASL PLAIN, -ERR, killed after DELE
	sessC = "c9d0e1f2" // carol: STLS, anomaly, failed login
)

// viewJSON runs View over the sample log with filter f and returns the events it selects.
func viewJSON(t *testing.T, f Filter) []Event {
	t.Helper()
	var out bytes.Buffer
	opts := ViewOptions{Filter: f, JSON: true}
	if err := View(context.Background(), opts, []string{filepath.Join("testdata", "sample.jsonl")}, &out); err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, &out, "")
}

func TestViewFilters(t *testing.T) {
	all := readEvents(t, "sample.jsonl")
	count := func(keep func(e Event) bool) int {
		n := 0
		for _, e := range all {
			if keep(e) {
				n++
			}
		}
		return n
	}
	inSession := func(ids ...string) func(Event) bool {
		return func(e Event) bool {
			for _, id := range ids {
				if e.Session == id {
					return true
				}
			}
			return false
		}
	}
	t0 := all[0].Time
	tests := []struct {
		name  string
		f     Filter
		want  int
		check func(Event) bool // every selected event must satisfy it
	}{
		{"none", Filter{}, len(all), nil},
		{"session", Filter{Session: sessB}, count(inSession(sessB)), inSession(sessB)},
		{"user keeps events before USER", Filter{User: "ALICE"}, count(inSession(sessA)), inSession(sessA)},
		{"user from SASL", Filter{User: "bob"}, count(inSession(sessB)), inSession(sessB)},
		{"unknown user", Filter{User: "mallory"}, 0, nil},
		{"client host", Filter{Client: "127.0.0.1"}, count(inSession(sessA, sessB)), inSession(sessA, sessB)},
		{"client host:port", Filter{Client: "192.0.2.44:40022"}, count(inSession(sessC)), inSession(sessC)},
		{"command", Filter{Command: "retr"}, 11, func(e Event) bool { return e.Verb == "RETR" || e.Answers == "RETR" }},
		{"errors", Filter{Errors: true}, 5, func(e Event) bool { return e.IsError() }},
		{"user and command", Filter{User: "alice", Command: "DELE"}, 6, func(e Event) bool {
			return e.Session == sessA && (e.Verb == "DELE" || e.Answers == "DELE" || e.Kind == KindDelete)
		}},
		{"AUTH includes SASL steps", Filter{Command: "AUTH"}, 4, inSession(sessB)},
		{"since", Filter{Since: t0.Add(4 * time.Second)}, count(inSession(sessC)), inSession(sessC)},
		{"until", Filter{Until: t0}, 1, func(e Event) bool { return e.Kind == KindWarning }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := viewJSON(t, tt.f)
			if len(got) != tt.want {
				t.Errorf("%d events, want %d", len(got), tt.want)
			}
			for _, e := range got {
				if tt.check != nil && !tt.check(e) {
					t.Errorf("unexpected event %+v", e)
				}
			}
		})
	}
}

func TestViewTranscriptMatchesPrinter(t *testing.T) {
	for _, level := range transcriptLevels {
		var out bytes.Buffer
		opts := ViewOptions{Printer: PrinterOptions{Level: level}}
		if err := View(context.Background(), opts, []string{filepath.Join("testdata", "levels.jsonl")}, &out); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, goldenName("levels", level, false), out.Bytes())
	}
	var out bytes.Buffer
	in, err := os.Open(filepath.Join("testdata", "sample.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := View(context.Background(), ViewOptions{Stdin: in}, nil, &out); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "sample.txt", out.Bytes())
}

func TestViewSummary(t *testing.T) {
	for _, colour := range []bool{false, true} {
		var out bytes.Buffer
		opts := ViewOptions{Summary: true, Printer: PrinterOptions{Color: colour}}
		if err := View(context.Background(), opts, []string{filepath.Join("testdata", "sample.jsonl")}, &out); err != nil {
			t.Fatal(err)
		}
		name := "summary.txt"
		if colour {
			name = "summary.color.txt"
		}
		checkGolden(t, name, out.Bytes())
	}
}

func TestViewSummaryJSON(t *testing.T) {
	var out bytes.Buffer
	opts := ViewOptions{Summary: true, JSON: true, Filter: Filter{Errors: true}}
	if err := View(context.Background(), opts, []string{filepath.Join("testdata", "sample.jsonl")}, &out); err != nil {
		t.Fatal(err)
	}
	var got []SessionSummary
	for line := range strings.Lines(out.String()) {
		var s SessionSummary
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	// Only sessions with an error event are listed; their summaries are whole.
	if len(got) != 2 || got[0].Session != sessB || got[1].Session != sessC {
		t.Fatalf("summaries %+v, want sessions %s and %s", got, sessB, sessC)
	}
	b := got[0]
	if b.User != "bob" || b.Committed || !b.Closed || len(b.Retrieved) != 1 || b.Retrieved[0].UID != "00000007aa01" ||
		b.Retrieved[0].SHA256 == "" || len(b.Deleted) != 1 || b.Deleted[0] != "00000007aa01" || b.Errors != 2 || b.Commands != 6 {
		t.Errorf("bob's summary %+v", b)
	}
}

func TestSummaryWithoutClose(t *testing.T) {
	sm := newSummariser(func(*Event) bool { return true })
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	sm.add(Event{Time: at, Session: "s", Kind: KindOpen, Client: "c"})
	sm.add(Event{Time: at.Add(time.Second), Session: "s", Kind: KindCommand, Verb: "DELE", Text: "DELE 4"})
	sm.add(Event{Time: at.Add(1500 * time.Millisecond), Session: "s", Kind: KindDelete, Msg: 4})
	got := sm.summaries()
	if len(got) != 1 {
		t.Fatalf("%d summaries", len(got))
	}
	s := got[0]
	if s.Closed || s.Committed || s.Commands != 1 || len(s.Deleted) != 1 || s.Deleted[0] != "#4" || s.Duration != "1.5s" {
		t.Errorf("summary %+v", s)
	}
}

func TestViewReportsBadLinesAndGoesOn(t *testing.T) {
	input := `{"v":1,"kind":"warning","text":"one"}
{oops
{"v":1,"kind":"warning","text":"two"}
`
	var out, warn bytes.Buffer
	opts := ViewOptions{Stdin: strings.NewReader(input), Warnings: &warn, JSON: true}
	if err := View(context.Background(), opts, []string{"-"}, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Errorf("%d events out, want 2", n)
	}
	if !strings.Contains(warn.String(), "stdin:2:") {
		t.Errorf("warning %q lacks the line number", warn.String())
	}
}

func TestViewMissingFile(t *testing.T) {
	err := View(context.Background(), ViewOptions{}, []string{filepath.Join(t.TempDir(), "none")}, io.Discard)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("View = %v, want ErrNotExist", err)
	}
	err = View(context.Background(), ViewOptions{Follow: true}, []string{"-"}, io.Discard)
	if !errors.Is(err, errFollowStdin) {
		t.Errorf("View --follow - = %v, want %v", err, errFollowStdin)
	}
}

func TestGatePendingIsBounded(t *testing.T) {
	f := Filter{User: "u"}
	g := newGate(&f)
	var got []Event
	emit := func(e Event) { got = append(got, e) }
	for i := range MaxPendingEvents + 10 {
		g.push(Event{Session: "s", Kind: KindCommand, Step: i + 1}, emit)
	}
	if len(got) != 0 {
		t.Fatalf("%d events released before the user was known", len(got))
	}
	g.push(Event{Session: "s", Kind: KindCommand, Verb: "USER", Text: "USER u"}, emit)
	if len(got) != MaxPendingEvents+1 || got[0].Step != 11 {
		t.Errorf("released %d events starting at step %d; want %d starting at 11", len(got), got[0].Step, MaxPendingEvents+1)
	}
	g.push(Event{Session: "s", Kind: KindClose}, emit)
	if len(g.sessions) != 0 {
		t.Errorf("closed session still remembered")
	}
}

func TestParseTimeBound(t *testing.T) {
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "15m", want: now.Add(-15 * time.Minute)},
		{in: "2h30m", want: now.Add(-150 * time.Minute)},
		{in: "2025-03-14T09:26:54.5+01:00", want: time.Date(2025, 3, 14, 8, 26, 54, 5e8, time.UTC)},
		{in: "2025-03-14", want: time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)},
		{in: "-5m", bad: true},
		{in: "yesterday", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseTimeBound(tt.in, now)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseTimeBound(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTimeBound(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestSummaryRetrievedFromClose checks that a session logged with --bodies none, which has no
// audit records, still shows what it retrieved, from its close event.
func TestSummaryRetrievedFromClose(t *testing.T) {
	sm := newSummariser(func(*Event) bool { return true })
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	sm.add(Event{Time: at, Session: "s", Kind: KindOpen, Client: "c"})
	sm.add(Event{Time: at.Add(time.Second), Session: "s", Kind: KindClose,
		Summary: &Summary{Retrieved: []string{"uid-a", "#2"}, QuitSent: true, Committed: true}})
	sums := sm.summaries()
	if len(sums) != 1 || len(sums[0].Retrieved) != 2 || sums[0].Retrieved[0].UID != "uid-a" || sums[0].Retrieved[1].Msg != 2 {
		t.Fatalf("summaries %+v", sums)
	}
	var out bytes.Buffer
	if err := writeSummaryTable(&out, sums, false, time.UTC); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"✉ uid uid-a\n", "✉ msg 2\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

// TestViewReadsAnomalyLeg reads anomaly events as popwire wrote them before they carried
// dir, with the side in leg: the viewer shows them as it shows current ones.
func TestViewReadsAnomalyLeg(t *testing.T) {
	const old = `{"v":1,"time":"2025-03-14T09:26:57.709848082Z","session":"c9d0e1f2","kind":"anomaly","leg":"upstream","text":"server line ends in a bare LF, not CRLF"}` + "\n" +
		`{"v":1,"time":"2025-03-14T09:26:57.719848082Z","session":"c9d0e1f2","kind":"anomaly","leg":"client","text":"discarded 6 bytes"}` + "\n"
	var text, js bytes.Buffer
	if err := View(t.Context(), ViewOptions{Stdin: strings.NewReader(old)}, nil, &text); err != nil {
		t.Fatal(err)
	}
	if err := View(t.Context(), ViewOptions{Stdin: strings.NewReader(old), JSON: true}, nil, &js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "anomaly s2c: server line") || !strings.Contains(text.String(), "anomaly c2s: discarded") {
		t.Errorf("old anomalies printed as:\n%s", text.String())
	}
	out := js.String()
	events := decodeAll(t, &js, "")
	if len(events) != 2 || events[0].Dir != DirServerToClient || events[1].Dir != DirClientToServer || events[0].Leg != "" {
		t.Errorf("old anomalies re-emitted as:\n%s", out)
	}
}
