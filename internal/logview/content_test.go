package logview

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// fakeOwner is a ContentOwner that counts what it charged and records the parts dropped.
type fakeOwner struct {
	mu      sync.Mutex
	limit   int64
	charged int64
	dropped []int
}

func (o *fakeOwner) Drop(i int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropped = append(o.dropped, i)
}

func (o *fakeOwner) Charge(n int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.charged+n > o.limit {
		return false
	}
	o.charged += n
	return true
}

func (o *fakeOwner) Uncharge(n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.charged -= n
}

func (o *fakeOwner) state() (charged int64, dropped int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.charged, len(o.dropped)
}

// splitRandomly cuts s into parts at random places, inside UTF-8 sequences too, with empty
// parts now and then.
func splitRandomly(r *rand.Rand, s string) []string {
	var parts []string
	for s != "" {
		n := min(len(s), r.IntN(6))
		parts, s = append(parts, s[:n]), s[n:]
	}
	return parts
}

// TestContentEncodesAsJoined checks that a Content in parts encodes exactly as encoding/json
// encodes its parts joined, wherever the parts cut it: inside a multi-byte sequence, an
// invalid one, U+2028, an escape.
func TestContentEncodesAsJoined(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "é", "€", "𝄞", "\u2028", "\u2029", "\xff", "\xe2\x82", "\xf0\x9d", "\r\n", "\"", "\\", "\x00", "\t", "plain text "}
	for range 2000 {
		var b strings.Builder
		for range r.IntN(20) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		s := b.String()
		if s == "" {
			continue
		}
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		parts := splitRandomly(r, s)
		got, ok := appendContent(nil, Content{parts: parts}, nil)
		if !ok || string(got) != string(want) {
			t.Fatalf("parts %q: encoded %s, want %s", parts, got, want)
		}
		held := NewContent(parts, &fakeOwner{limit: 1 << 20})
		line, err := (Event{Kind: KindBody, Message: &MessageInfo{Msg: 1, Content: held}}).MarshalJSON()
		if err != nil || !bytes.Contains(line, append([]byte(`"content":`), want...)) {
			t.Fatalf("parts %q: event %s, want the content %s", parts, line, want)
		}
	}
}

// TestJSONWriterChargesAndLetsGo checks that a JSON writer charges the encoding of a held
// content to its owner for as long as it holds the line (the charge is there while the line
// is written, and gone after), lets go of each part as it encodes it when its caller holds the
// only reference, and keeps them all when another holder remains.
func TestJSONWriterChargesAndLetsGo(t *testing.T) {
	parts := []string{strings.Repeat("line one\r\n", 1000), strings.Repeat("line two\r\n", 1000)}
	for _, sole := range []bool{true, false} {
		owner := &fakeOwner{limit: 1 << 20}
		content := NewContent(append([]string(nil), parts...), owner)
		if !sole {
			content.Retain()
		}
		var during int64
		var droppedDuring int
		w := writerFunc(func(p []byte) (int, error) {
			during, droppedDuring = owner.state()
			return len(p), nil
		})
		if err := NewJSONWriter(w).Emit(Event{Kind: KindBody, Message: &MessageInfo{Msg: 1, Content: content}}); err != nil {
			t.Fatal(err)
		}
		if enc := int64(len(appendString(nil, strings.Join(parts, ""))) - 2); during < enc {
			t.Errorf("sole %v: %d bytes charged while the line was written, want the %d of its content", sole, during, enc)
		}
		if charged, _ := owner.state(); charged != 0 {
			t.Errorf("sole %v: %d bytes still charged after the line was written", sole, charged)
		}
		if want := map[bool]int{true: 2, false: 0}[sole]; droppedDuring != want {
			t.Errorf("sole %v: %d parts let go of by the write, want %d", sole, droppedDuring, want)
		}
		content.Release()
		if !sole {
			content.Release()
		}
		if _, dropped := owner.state(); dropped != 2 {
			t.Errorf("sole %v: %d parts dropped in all, want each once", sole, dropped)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestJSONWriterLeavesOutWhatIsRefused checks that a content whose encoding the owner cannot
// charge is left out of the line, which says so, and that nothing stays charged.
func TestJSONWriterLeavesOutWhatIsRefused(t *testing.T) {
	owner := &fakeOwner{limit: 100}
	content := NewContent([]string{strings.Repeat("x", 60), strings.Repeat("y", 60)}, owner)
	defer content.Release()
	var out bytes.Buffer
	e := Event{Kind: KindBody, Message: &MessageInfo{Msg: 1, Octets: 120, Content: content}}
	if err := NewJSONWriter(&out).Emit(e); err != nil {
		t.Fatal(err)
	}
	want, err := (Event{Kind: KindBody, Message: &MessageInfo{Msg: 1, Octets: 120, ContentOmitted: true}}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(out.String(), "\n"); got != string(want) {
		t.Errorf("line %s, want %s", got, want)
	}
	if charged, _ := owner.state(); charged != 0 {
		t.Errorf("%d bytes charged after a refused content", charged)
	}
}

// TestAsyncHoldsContentWhileQueued checks that an Async keeps a reference to a held content
// while its event waits, so that the parts are let go of only once written, and that an
// output that never prints content keeps none.
func TestAsyncHoldsContentWhileQueued(t *testing.T) {
	for _, level := range []Level{LevelFull, LevelReplies} {
		owner := &fakeOwner{limit: 1 << 20}
		content := NewContent([]string{"Subject: a\r\n\r\n", "body\r\n"}, owner)
		stuck := make(chan struct{})
		var printed bytes.Buffer
		p := NewPrinter(writerFunc(func(b []byte) (int, error) {
			<-stuck
			return printed.Write(b)
		}), PrinterOptions{Level: level})
		a := NewAsync(p, AsyncOptions{})
		if err := a.Emit(Event{Kind: KindBody, Answers: "RETR", Message: &MessageInfo{Msg: 1, Content: content}}); err != nil {
			t.Fatal(err)
		}
		content.Release() // the caller is done with it
		_, dropped := owner.state()
		close(stuck)
		if err := a.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		if want := map[Level]int{LevelFull: 0, LevelReplies: 2}[level]; dropped != want {
			t.Errorf("%s: %d parts let go of while the event was queued, want %d", level, dropped, want)
		}
		if _, dropped := owner.state(); dropped != 2 {
			t.Errorf("%s: %d parts let go of in the end, want 2", level, dropped)
		}
		if level == LevelFull && !strings.Contains(printed.String(), "body") {
			t.Errorf("%s: the content was not printed: %q", level, printed.String())
		}
	}
}
