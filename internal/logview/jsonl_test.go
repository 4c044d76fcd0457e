package logview

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// plainEvent has Event's fields and tags but not its MarshalJSON, so encoding/json encodes it
// by reflection: the reference the hand-written encoder is checked against.
type plainEvent Event

// fullEvent sets every field, so a forgotten field in the encoder shows up.
func fullEvent() Event {
	return Event{
		V: Version, Time: time.Date(2025, 3, 14, 9, 26, 53, 5000, time.UTC), Session: "s", Kind: KindBody,
		Dir: DirServerToClient, User: "u", Client: "127.0.0.1:1", Listener: "plain", Upstream: "h:995",
		Leg: "upstream", ClientSec: "plaintext", UpstreamSec: "tls", Verb: "RETR", Answers: "RETR",
		Status: "+OK", Code: "IN-USE", Text: "t", Redacted: true, Revealed: true, Mech: "PLAIN", Step: 2,
		Lines: 3, Bytes: 4, Action: "deny", Err: "e", Output: "stderr", Dropped: 5,
		TLS: &TLSInfo{Version: "TLS 1.3", Cipher: "c", SNI: "h", PeerSubject: "CN=h", PeerNames: []string{"h", "i"}, Verified: true, VerifyErr: "v"},
		Message: &MessageInfo{Msg: 1, UID: "x", Octets: 5, SHA256: "ab", From: "f", To: "t", Cc: "c", Subject: "s", Date: "d", MessageID: "<m>", Top: true, Content: ContentOf("body"),
			ContentTruncated: true, HeaderTruncated: true, HeaderMalformed: true},
		Listing: &Listing{Lines: []string{"1 120", "2 \"x\""}, OmittedLines: 3, OmittedBytes: 40},
		Msg:     7, UID: "y",
		Summary: &Summary{Duration: "1s", Commands: 2, BytesUp: 3, BytesDown: 4, Retrieved: []string{"a"}, Deleted: []string{"b", "c"}, QuitSent: true, Committed: true, Reason: "r"},
		Finding: &Finding{Side: "server", Rule: "bare-lf", RFC: "RFC 1939 §3", Requirement: "CRLF", Evidence: `"+OK"`},
		Extra:   json.RawMessage(`{ "later" : [1, 2] }`),
	}
}

// asMap decodes a JSON object generically, with the time field parsed so that equal instants
// written with different precision compare equal.
func asMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	if s, ok := m["time"].(string); ok {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		m["time"] = tm.UnixNano()
	}
	return m
}

// TestEncodeMatchesEncodingJSON compares the hand-written encoder with encoding/json. A
// message's content is the exception: Content encodes itself with the encoder's own code, so
// the reference takes it as the string its parts make.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	events := []Event{fullEvent(), {Kind: KindClose, Summary: &Summary{}}, {Kind: KindTLS, TLS: &TLSInfo{}}, {Kind: KindBody, Message: &MessageInfo{}},
		{Kind: KindBody, Listing: &Listing{Lines: []string{}}}, {Kind: KindFinding, Finding: &Finding{}},
		{Kind: KindBody, Message: &MessageInfo{Msg: 1, Content: Content{parts: []string{"Subject: caf\xc3", "\xa9\r\n\r\n\"hi\"", "\u2028\r\n"}}}}}
	events = append(events, readEvents(t, "sample.jsonl")...)
	for i, e := range events {
		got, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(plainEvent(e))
		if err != nil {
			t.Fatal(err)
		}
		w := asMap(t, want)
		if e.Message != nil && e.Message.Content.Len() > 0 {
			w["message"].(map[string]any)["content"] = e.Message.Content.String()
		}
		if g := asMap(t, got); !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\n got %s\nwant %v", i, got, w)
		}
	}
}

func TestEncodeTimeFixedWidthUTC(t *testing.T) {
	loc := time.FixedZone("X", -5*3600)
	for _, tm := range []time.Time{
		time.Date(2025, 1, 2, 3, 4, 5, 0, loc),
		time.Date(2025, 1, 2, 3, 4, 5, 100, time.UTC),
		time.Date(2025, 1, 2, 3, 4, 5, 999999999, time.UTC),
	} {
		b, err := json.Marshal(Event{Time: tm, Kind: KindWarning})
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Time string }
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Time) != len("2025-01-02T03:04:05.000000000Z") || !strings.HasSuffix(got.Time, "Z") {
			t.Errorf("time %q is not fixed-width UTC", got.Time)
		}
		back, err := time.Parse(time.RFC3339Nano, got.Time)
		if err != nil || !back.Equal(tm) {
			t.Errorf("time %q parses to %v (%v), want %v", got.Time, back, err, tm)
		}
	}
}

func TestEncodeStringsLikeEncodingJSON(t *testing.T) {
	cases := []string{"", "plain", `quote " backslash \`, "\x00\x01\b\f\n\r\t\x1f\x7f", "<&>", "ünïcødé ✉",
		"\u2028\u2029", "bad \xff\xfe utf8", "\xe2\x80", "trailing \xc3"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got := appendString(nil, s)
		if !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want.Bytes())
		}
	}
}

func TestEncodeBadExtra(t *testing.T) {
	var buf bytes.Buffer
	err := NewJSONWriter(&buf).Emit(Event{Kind: KindWarning, Extra: json.RawMessage(`{"a":`)})
	if !errors.Is(err, errBadExtra) {
		t.Fatalf("Emit = %v, want %v", err, errBadExtra)
	}
	if buf.Len() != 0 {
		t.Errorf("a half event was written: %q", buf.String())
	}
}

func TestJSONRoundTrip(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "sample.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	events := append(readEvents(t, "sample.jsonl"), fullEvent())
	var buf bytes.Buffer
	w := NewJSONWriter(&buf)
	for _, e := range events {
		if err := w.Emit(e); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.HasPrefix(buf.Bytes(), want) {
		t.Errorf("re-encoding sample.jsonl changed it")
	}
	d := NewDecoder(&buf, "")
	for i, orig := range events {
		got, err := d.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if i == len(events)-1 {
			orig.Extra = json.RawMessage(`{"later":[1,2]}`) // written compacted
		}
		if !reflect.DeepEqual(got, orig) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got, orig)
		}
	}
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last event: %v, want io.EOF", err)
	}
}

func TestDecoderBadLines(t *testing.T) {
	long := `{"v":1,"kind":"warning","text":"` + strings.Repeat("x", MaxLineSize) + `"}`
	input := strings.Join([]string{
		`{"v":1,"time":"2025-03-14T09:26:53.000000000Z","kind":"command","text":"LIST","unknown":{"a":[1]}}`,
		`{"v":1,"kind":"command"`,
		``,
		`{"v":1,"time":"2025-03-14T09:26:53Z"}`,
		long,
		`{"v":"one","kind":"command"}`,
		`   {"v":9,"kind":"future"}   `,
		`not json secret=hunter2`,
		`{"v":1,"kind":"close"}`, // no newline at the end
	}, "\n")
	type result struct {
		kind Kind
		line int // of a LineError; 0 for an event
	}
	want := []result{{KindCommand, 0}, {"", 2}, {"", 4}, {"", 5}, {"", 6}, {"future", 0}, {"", 8}, {KindClose, 0}}
	d := NewDecoder(strings.NewReader(input), "x.jsonl")
	for i, w := range want {
		e, err := d.Next()
		var le *LineError
		switch {
		case w.line == 0 && err != nil:
			t.Fatalf("result %d: unexpected error %v", i, err)
		case w.line == 0 && e.Kind != w.kind:
			t.Errorf("result %d: kind %q, want %q", i, e.Kind, w.kind)
		case w.line != 0 && !errors.As(err, &le):
			t.Fatalf("result %d: got %v, %v; want a LineError on line %d", i, e, err, w.line)
		case w.line != 0 && (le.Line != w.line || le.Name != "x.jsonl"):
			t.Errorf("result %d: %v, want line %d", i, le, w.line)
		case w.line != 0 && strings.Contains(le.Error(), "hunter2"):
			t.Errorf("line error quotes the line: %v", le)
		}
	}
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
}

func TestDiscard(t *testing.T) {
	if err := Discard.Emit(Event{}); err != nil {
		t.Errorf("Discard.Emit = %v", err)
	}
}

// TestJSONContentCopiedOnce checks that a message's content (--bodies full, up to 16 MiB),
// held in parts as the recorder hands it over, is encoded straight from its parts into a line
// buffer allocated once at about its size: not joined into one string first, and not grown by
// doubling (each step would leave garbage that no content budget counts).
func TestJSONContentCopiedOnce(t *testing.T) {
	text := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n", (4<<20)/81)
	var parts []string
	for rest := text; rest != ""; {
		n := min(len(rest), 256<<10+7) // parts that cut lines and words
		parts, rest = append(parts, rest[:n]), rest[n:]
	}
	owner := &fakeOwner{limit: 1 << 30}
	content := NewContent(parts, owner)
	defer content.Release()
	e := Event{V: Version, Kind: KindBody, Dir: DirServerToClient, Answers: "RETR", Message: &MessageInfo{Msg: 1, Content: content}}
	line, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	content.Retain() // a second holder: the writer must not let go of the parts
	defer content.Release()
	j := NewJSONWriter(io.Discard)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := j.Emit(e); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > uint64(len(line))*9/8 {
		t.Errorf("writing a %d-byte line allocated %d bytes, want at most 1.125 times the line", len(line), n)
	}
}

// TestAppendStringWordSkip puts each byte that needs attention at each place of a string
// longer than the 8-byte words appendString skips, and compares with encoding/json.
func TestAppendStringWordSkip(t *testing.T) {
	for _, special := range []string{"\"", "\\", "\x00", "\x1f", "\r", "\n", "\x7f", "é", "\u2028", "\xff", " ", "~"} {
		for i := range 24 {
			s := strings.Repeat("a", i) + special + strings.Repeat("b", 24-i)
			want, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendString(nil, s); string(got) != string(want) {
				t.Errorf("appendString(%q) = %s, want %s", s, got, want)
			}
		}
	}
}

// TestLineBufferGrowsByDoubling checks that a line buffer that grows by short fields, as a
// Deferred FileSink's does from a fresh one up to maxDeferred, grows by doubling: a few
// times, not once for every string that does not fit.
func TestLineBufferGrowsByDoubling(t *testing.T) {
	events := benchEvents()
	allocs := testing.AllocsPerRun(10, func() {
		buf := make([]byte, 0, 512)
		for i := 0; len(buf) < maxDeferred; i++ {
			buf, _ = appendEvent(buf, &events[i%len(events)], nil)
			buf = append(buf, '\n')
		}
	})
	// The first buffer, one per doubling up to maxDeferred, and a few to spare.
	if limit := float64(1 + bits.Len(maxDeferred/512) + 3); allocs > limit {
		t.Errorf("a line buffer grown from 512 bytes to %d by events allocates %v times, want at most %v", maxDeferred, allocs, limit)
	}
}
