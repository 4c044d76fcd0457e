package logview

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// readEvents decodes every event of a testdata file, failing on any bad line.
func readEvents(t testing.TB, name string) []Event {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return decodeAll(t, f, name)
}

// decodeAll decodes every event of r, failing on any bad line.
func decodeAll(t testing.TB, r io.Reader, name string) []Event {
	t.Helper()
	d := NewDecoder(r, name)
	var events []Event
	for {
		e, err := d.Next()
		if errors.Is(err, io.EOF) {
			return events
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// goldenName names the golden transcript of input at level, with or without colour:
// sample.txt (LevelReplies, the default), sample.summary.color.txt, …
func goldenName(input string, level Level, colour bool) string {
	name := input
	if level != LevelReplies {
		name += "." + string(level)
	}
	if colour {
		name += ".color"
	}
	return name + ".txt"
}

// transcriptLevels are the levels each golden input is printed at.
var transcriptLevels = []Level{LevelSummary, LevelReplies, LevelFull}

func TestPrinterGolden(t *testing.T) {
	for _, input := range []string{"sample", "edge", "levels", "findings"} {
		events := readEvents(t, input+".jsonl")
		for _, level := range transcriptLevels {
			for _, colour := range []bool{false, true} {
				name := goldenName(input, level, colour)
				t.Run(name, func(t *testing.T) {
					var buf bytes.Buffer
					p := NewPrinter(&buf, PrinterOptions{Color: colour, Level: level})
					for _, e := range events {
						if err := p.Emit(e); err != nil {
							t.Fatal(err)
						}
					}
					out := buf.Bytes()
					if hasEsc := bytes.Contains(out, []byte("\x1b[")); hasEsc != colour {
						t.Errorf("colour %v but escape sequences present: %v", colour, hasEsc)
					}
					checkGolden(t, name, out)
				})
			}
		}
	}
}

func TestPrinterMarks(t *testing.T) {
	at := time.Date(2025, 3, 14, 23, 59, 59, 999_999_999, time.UTC)
	tests := []struct {
		name string
		e    Event
		want []string // substrings of the output
		not  []string
	}{
		{"revealed secret is badged", Event{Time: at, Session: "s1", Kind: KindCommand, Dir: DirClientToServer, Text: "PASS hunter2", Revealed: true},
			[]string{" REVEALED ", "→ ", "PASS hunter2"}, nil},
		{"millisecond time truncated not rounded", Event{Time: at, Kind: KindWarning, Text: "x"},
			[]string{"23:59:59.999 -        ! warning: x"}, nil},
		{"control characters cannot reach the terminal", Event{Time: at, Kind: KindAnomaly, Text: "a\x1b[2J\r\nb"},
			[]string{"a␛[2J␍␊b"}, []string{"\x1b", "\r"}},
		{"plaintext off loopback is flagged", Event{Time: at, Kind: KindOpen, Client: "203.0.113.9:4000", ClientSec: "plaintext", Upstream: "[::1]:110", UpstreamSec: "plaintext"},
			[]string{"client 203.0.113.9:4000 ⇄ PLAINTEXT (unencrypted)", "upstream [::1]:110 ⇄ plaintext (local)"}, nil},
		{"load balancer is shown", Event{Time: at, Kind: KindOpen, Client: "192.0.2.7:40000", Via: "127.0.0.1:5678", ClientSec: "tls", Listener: "tls", Upstream: "[::1]:995", UpstreamSec: "tls"},
			[]string{"client 192.0.2.7:40000 (through proxy 127.0.0.1:5678) ⇄ TLS"}, nil},
		{"multi-line summary", Event{Time: at, Kind: KindBody, Answers: "RETR", Lines: 1284, Bytes: 98_509},
			[]string{"— RETR: 1,284 lines, 96.2 KiB"}, nil},
		{"uncommitted deletions are stated", Event{Time: at, Kind: KindClose, Summary: &Summary{Duration: "1s", Deleted: []string{"u1"}}},
			[]string{"deleted u1 — NOT committed"}, nil},
		{"dropped events are said", Event{Time: at, Kind: KindDropped, Output: "stderr", Dropped: 12, Text: "12 events dropped: stderr could not keep up"},
			[]string{"! 12 events dropped: stderr could not keep up"}, []string{"? dropped"}},
		{"reload is said", Event{Time: at, Kind: KindReload, Text: "configuration reloaded from p.yaml: routes a"},
			[]string{"• configuration reloaded from p.yaml: routes a"}, []string{"? reload"}},
		{"local reply is marked", Event{Time: at, Kind: KindReply, Dir: DirLocal, Status: "+OK", Text: "Begin TLS negotiation"},
			[]string{"↩ +OK Begin TLS negotiation  (answered by popwire)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := NewPrinter(&buf, PrinterOptions{}).Emit(tt.e); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("output %q contains %q", out, n)
				}
			}
		})
	}
}

func TestPrinterLocation(t *testing.T) {
	var buf bytes.Buffer
	loc := time.FixedZone("UTC+2", 2*3600)
	e := Event{Time: time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC), Kind: KindWarning, Text: "w"}
	if err := NewPrinter(&buf, PrinterOptions{Location: loc}).Emit(e); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "12:00:00.000 ") {
		t.Errorf("got %q, want the time in UTC+2", buf.String())
	}
}

func TestPrinterWriteError(t *testing.T) {
	p := NewPrinter(failWriter{}, PrinterOptions{})
	err := p.Emit(Event{Kind: KindWarning})
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Emit = %v, want it to wrap %v", err, errDiskFull)
	}
}

var errDiskFull = errors.New("no space left on device")

// failWriter fails every write, like a full disk.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// TestPrinterNeutralisesEveryField feeds server- and log-controlled text with terminal
// controls into every field the Printer shows: no ESC, C1 control or bidi override may reach
// the output.
func TestPrinterNeutralisesEveryField(t *testing.T) {
	const evil = "x\x1b[31mred\u009b2J\u202egnp.exe\xff"
	events := []Event{
		{Kind: KindSASL, Session: evil, Dir: evil, Mech: evil, Step: 1, Text: evil},
		{Kind: KindPolicy, Action: evil, Verb: evil, Text: evil},
		{Kind: KindReply, Status: evil, Code: evil, Answers: evil, Text: evil},
		{Kind: KindError, Leg: evil, Err: evil},
		{Kind: KindTLS, Leg: evil, TLS: &TLSInfo{Version: evil, Cipher: evil, SNI: evil, PeerSubject: evil, VerifyErr: evil}},
		{Kind: KindBody, Answers: evil, Lines: 1, Bytes: 2, Text: evil,
			Message: &MessageInfo{Msg: 1, UID: evil, Subject: evil, From: evil, SHA256: evil, Content: ContentOf(evil + "\r\n" + evil)}},
		{Kind: KindBody, Answers: evil, Lines: 1, Bytes: 2, Text: evil},
		{Kind: KindBody, Answers: evil, Lines: 2, Bytes: 2, Listing: &Listing{Lines: []string{evil, evil}, OmittedLines: 1}},
		{Kind: KindDelete, Msg: 1, UID: evil},
		{Kind: KindClose, Summary: &Summary{Duration: evil, Reason: evil, Deleted: []string{evil}, Retrieved: []string{evil}}},
		{Kind: Kind(evil), Text: evil},
	}
	var out bytes.Buffer
	p := NewPrinter(&out, PrinterOptions{Level: LevelFull})
	for _, e := range events {
		if err := p.Emit(e); err != nil {
			t.Fatal(err)
		}
	}
	s := out.String()
	for _, bad := range []string{"\x1b", "\u009b", "\u202e", "\xff"} {
		if strings.Contains(s, bad) {
			t.Errorf("output holds %q:\n%s", bad, s)
		}
	}
	if !strings.Contains(s, "␛[31mred") {
		t.Errorf("ESC not shown as a control picture:\n%s", s)
	}
	if n := strings.Count(s, "│ x␛[31mred"); n != 4 {
		t.Errorf("%d content and listing lines shown, want 4:\n%s", n, s)
	}
}

func TestParseLevel(t *testing.T) {
	for _, s := range []string{"summary", "replies", "full"} {
		if l, err := ParseLevel(s); err != nil || string(l) != s {
			t.Errorf("ParseLevel(%q) = %q, %v", s, l, err)
		}
	}
	for _, s := range []string{"", "Full", "verbose", "2"} {
		if _, err := ParseLevel(s); err == nil {
			t.Errorf("ParseLevel(%q) accepted it", s)
		}
	}
}

// TestPrinterLetsGoOfALargeBuffer checks that printing a large message at LevelFull leaves
// the Printer no larger buffer than printerKeep.
func TestPrinterLetsGoOfALargeBuffer(t *testing.T) {
	content := strings.Repeat(strings.Repeat("x", 70)+"\r\n", 4000)
	p := NewPrinter(io.Discard, PrinterOptions{Level: LevelFull})
	if err := p.Emit(Event{Kind: KindBody, Answers: "RETR", Message: &MessageInfo{Msg: 1, Content: ContentOf(content)}}); err != nil {
		t.Fatal(err)
	}
	if c := cap(p.buf); c > printerKeep {
		t.Errorf("after a %d-byte message the Printer keeps a %d-byte buffer, want at most %d", len(content), c, printerKeep)
	}
}
