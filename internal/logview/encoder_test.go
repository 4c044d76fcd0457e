package logview

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kindEncoder writes "begin N" at the start of each file and each event's kind, one a line.
type kindEncoder struct{ files int }

func (k *kindEncoder) Begin(dst []byte) ([]byte, error) {
	k.files++
	return append(dst, "begin "+string(rune('0'+k.files))+"\n"...), nil
}

func (k *kindEncoder) Append(dst []byte, e *Event) ([]byte, error) {
	if e.Kind == KindWarning {
		return dst, nil // stands for nothing
	}
	return append(dst, string(e.Kind)+"\n"...), nil
}

// TestFileSinkEncoderStartsEveryFile checks that a FileSink with an Encoder writes what the
// Encoder makes, and begins each file it opens, the reopened one too, with Begin.
func TestFileSinkEncoderStartsEveryFile(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "out")
		s, err := OpenFileEncoder(path, nil, &kindEncoder{})
		if err != nil {
			t.Fatal(err)
		}
		s.Deferred = deferred
		s.Emit(Event{Kind: KindOpen})
		s.Emit(Event{Kind: KindWarning})
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		if err := s.Reopen(); err != nil {
			t.Fatal(err)
		}
		s.Emit(Event{Kind: KindClose})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{path + ".1": "begin 1\nopen\n", path: "begin 2\nclose\n"} {
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Errorf("deferred=%v: %s holds %q, want %q", deferred, filepath.Base(name), got, want)
			}
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("created with mode %04o, want 0600", fi.Mode().Perm())
		}
	}
}

// TestViewFeedsTheSink checks that View hands the events the filter selects to
// ViewOptions.Sink, and writes nothing to its output.
func TestViewFeedsTheSink(t *testing.T) {
	var got recorded
	var out strings.Builder
	opts := ViewOptions{Filter: Filter{Session: sessA}, Sink: &got}
	if err := View(context.Background(), opts, []string{filepath.Join("testdata", "sample.jsonl")}, &out); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, e := range readEvents(t, "sample.jsonl") {
		if e.Session == sessA {
			want++
		}
	}
	if len(got.events) != want || want == 0 || out.Len() != 0 {
		t.Errorf("the sink got %d events, want %d; the output got %d bytes", len(got.events), want, out.Len())
	}
}

// recorded is a Sink that keeps what it is given.
type recorded struct{ events []Event }

func (r *recorded) Emit(e Event) error {
	r.events = append(r.events, e)
	return nil
}
