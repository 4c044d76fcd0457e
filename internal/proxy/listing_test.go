package proxy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
)

// wire feeds a session's bytes through a codec.Tracker into a recorder, as the pumps do.
type wire struct {
	t   *codec.Tracker
	rec *recorder
}

func newWire(rec *recorder, greeting string) *wire {
	w := &wire{t: &codec.Tracker{}, rec: rec}
	w.server(greeting)
	return w
}

func (w *wire) client(s string) {
	for _, f := range w.t.Client([]byte(s)) {
		w.rec.frame(&f, "client")
	}
}

func (w *wire) server(s string) {
	for _, f := range w.t.Server([]byte(s)) {
		w.rec.frame(&f, "upstream")
	}
}

// exchange sends one command and its reply.
func (w *wire) exchange(cmd, reply string) {
	w.client(cmd)
	w.server(reply)
}

// bodyOf returns the one body event answering verb.
func bodyOf(t *testing.T, sink *memSink, verb string) logview.Event {
	t.Helper()
	var found []logview.Event
	for _, e := range sink.kinds(logview.KindBody) {
		if e.Answers == verb {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d body events answer %s, want 1:\n%s", len(found), verb, sink.json(t))
	}
	return found[0]
}

// TestRecorderListsReplyLines checks that the body event of every multi-line reply other than
// message content records its lines, unstuffed and scrubbed of the session's secrets.
func TestRecorderListsReplyLines(t *testing.T) {
	sink := &memSink{}
	w := newWire(newRecorder(sink, "s1", LogOptions{}), "+OK ready\r\n")
	w.exchange("CAPA\r\n", "+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN\r\n..X-DOT\r\n.\r\n")
	w.exchange("AUTH\r\n", "+OK mechanisms\r\nPLAIN\r\nX-ODD\r\n.\r\n")
	w.exchange("LANG\r\n", "+OK languages\r\nen English\r\nde Deutsch\r\n.\r\n")
	w.exchange("USER bob\r\n", "+OK\r\n")
	w.exchange("PASS s3cr3t-pw\r\n", "+OK in\r\n")
	w.exchange("LIST\r\n", "+OK 2 messages\r\n1 120\r\n2 s3cr3t-pw\r\n.\r\n")
	w.exchange("UIDL\r\n", "+OK\r\n1 uid-one\r\n2 uid-two\r\n.\r\n")
	w.exchange("XTND XLIST\r\n", "+OK\r\n.\r\n")

	for _, tc := range []struct {
		verb string
		want []string
	}{
		{"CAPA", []string{"TOP", "UIDL", "SASL PLAIN", ".X-DOT"}},
		{"AUTH", []string{"PLAIN", "X-ODD"}},
		{"LANG", []string{"en English", "de Deutsch"}},
		{"LIST", []string{"1 120", "2 [redacted]"}},
		{"UIDL", []string{"1 uid-one", "2 uid-two"}},
	} {
		e := bodyOf(t, sink, tc.verb)
		if e.Listing == nil || !slices.Equal(e.Listing.Lines, tc.want) || e.Listing.OmittedLines != 0 || e.Listing.OmittedBytes != 0 {
			t.Errorf("%s listing = %+v, want the lines %q and nothing left out", tc.verb, e.Listing, tc.want)
		}
	}
	if e := bodyOf(t, sink, "CAPA"); e.Text != "TOP, UIDL, SASL PLAIN, .X-DOT" {
		t.Errorf("CAPA text = %q, want the lines joined as earlier builds wrote them", e.Text)
	}
	if e := bodyOf(t, sink, "XTND"); e.Listing != nil {
		t.Errorf("empty reply has listing %+v", e.Listing)
	}
	if out := sink.json(t); strings.Contains(out, "s3cr3t") {
		t.Errorf("secret in the log:\n%s", out)
	}
}

// TestRecorderListingHidesUsers checks that --hide-users hides user names in reply lines.
func TestRecorderListingHidesUsers(t *testing.T) {
	sink := &memSink{}
	w := newWire(newRecorder(sink, "s1", LogOptions{HideUsers: true, UserKey: []byte("k")}), "+OK ready\r\n")
	w.exchange("USER carol\r\n", "+OK\r\n")
	w.exchange("PASS pw\r\n", "+OK\r\n")
	w.exchange("UIDL\r\n", "+OK\r\n1 carol\r\n2 carol@example.org\r\n.\r\n")
	e := bodyOf(t, sink, "UIDL")
	if e.Listing == nil || len(e.Listing.Lines) != 2 {
		t.Fatalf("listing = %+v, want two lines", e.Listing)
	}
	if out := sink.json(t); strings.Contains(out, "carol") {
		t.Errorf("user name in the log:\n%s", out)
	}
}

// TestRecorderListingBounded checks the caps of a listing: at most maxListingLines lines and
// maxListingBytes bytes, the rest counted, and a line longer than the tracker keeps marked.
func TestRecorderListingBounded(t *testing.T) {
	t.Run("lines", func(t *testing.T) {
		sink := &memSink{}
		w := newWire(newRecorder(sink, "s1", LogOptions{}), "+OK ready\r\n")
		var b strings.Builder
		b.WriteString("+OK\r\n")
		var restBytes int64
		for i := 1; i <= maxListingLines+50; i++ {
			line := fmt.Sprintf("%d %d", i, 1000+i)
			if i > maxListingLines {
				restBytes += int64(len(line))
			}
			b.WriteString(line + "\r\n")
		}
		w.exchange("LIST\r\n", b.String()+".\r\n")
		l := bodyOf(t, sink, "LIST").Listing
		if l == nil {
			t.Fatal("no listing")
		}
		if l == nil || len(l.Lines) != maxListingLines || l.Lines[0] != "1 1001" || l.OmittedLines != 50 || l.OmittedBytes != restBytes {
			t.Fatalf("listing of %d lines = %d lines, first %q, omitted %d lines %d bytes; want %d, 50, %d",
				maxListingLines+50, len(l.Lines), l.Lines[0], l.OmittedLines, l.OmittedBytes, maxListingLines, restBytes)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		sink := &memSink{}
		w := newWire(newRecorder(sink, "s1", LogOptions{}), "+OK ready\r\n")
		long := strings.Repeat("x", 1000)
		var b strings.Builder
		b.WriteString("+OK\r\n")
		for range 40 {
			b.WriteString(long + "\r\n")
		}
		w.exchange("UIDL\r\n", b.String()+".\r\n")
		l := bodyOf(t, sink, "UIDL").Listing
		if l == nil {
			t.Fatal("no listing")
		}
		kept := 0
		for _, s := range l.Lines {
			kept += len(strings.TrimSuffix(s, "…"))
		}
		whole := maxListingBytes / 1000
		if kept != maxListingBytes || len(l.Lines) != whole+1 || !strings.HasSuffix(l.Lines[whole], "…") ||
			l.OmittedLines != int64(40-whole-1) || int64(kept)+l.OmittedBytes != 40*1000 {
			t.Fatalf("listing kept %d lines (%d bytes), omitted %d lines %d bytes; want %d whole lines, one cut short, %d bytes in all and the rest counted",
				len(l.Lines), kept, l.OmittedLines, l.OmittedBytes, whole, maxListingBytes)
		}
	})
	t.Run("long line", func(t *testing.T) {
		sink := &memSink{}
		rec := newRecorder(sink, "s1", LogOptions{})
		w := &wire{t: &codec.Tracker{MaxLine: 100}, rec: rec}
		w.server("+OK ready\r\n")
		w.exchange("CAPA\r\n", "+OK\r\nX-LONG "+strings.Repeat("y", 200)+"\r\nUSER\r\n.\r\n")
		l := bodyOf(t, sink, "CAPA").Listing
		if l == nil || len(l.Lines) != 2 || !strings.HasSuffix(l.Lines[0], "…") || len(l.Lines[0]) != 100+len("…") ||
			l.Lines[1] != "USER" || l.OmittedLines != 0 || l.OmittedBytes != 107 {
			t.Fatalf("listing = %+v; want the long line cut at 100 bytes and marked, 107 bytes omitted", l)
		}
	})
}

// TestRecorderSkipReplyLinesAllocatesNothing checks that with SkipReplyLines (no output shows
// reply lines) a CAPA line costs no allocation.
func TestRecorderSkipReplyLinesAllocatesNothing(t *testing.T) {
	r := newRecorder(&memSink{}, "s1", LogOptions{SkipReplyLines: true})
	r.frame(replyFrame("CAPA", "+OK", codec.Authorization, true), "upstream")
	capa, _ := codec.ParseCommand([]byte("CAPA"))
	f := &codec.Frame{Kind: codec.FrameListLine, Cmd: capa, Line: []byte("SASL PLAIN LOGIN"), Full: 16, State: codec.Authorization}
	if n := testing.AllocsPerRun(100, func() { r.frame(f, "upstream") }); n != 0 {
		t.Errorf("a CAPA line allocates %v times with SkipReplyLines, want 0", n)
	}
	r.frame(&codec.Frame{Kind: codec.FrameBodyEnd, Cmd: capa, Lines: 101, Octets: 1818, State: codec.Authorization}, "upstream")
	sink := r.sink.(*memSink)
	if e := bodyOf(t, sink, "CAPA"); e.Listing != nil || e.Text != "" || e.Lines != 101 {
		t.Errorf("body event with SkipReplyLines = %+v, want the counts only", e)
	}
}
