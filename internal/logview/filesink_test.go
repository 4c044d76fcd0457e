package logview

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a concurrency-safe report writer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

func TestFileSinkAppendsWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	if err := os.WriteFile(path, []byte("{\"v\":1,\"kind\":\"warning\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Emit(Event{Kind: KindWarning, Text: "second"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countLines(t, path); n != 2 {
		t.Errorf("%d lines, want 2 (appended, not truncated)", n)
	}

	fresh := filepath.Join(t.TempDir(), "new.jsonl")
	s, err = OpenFile(fresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestFileSinkOpenError(t *testing.T) {
	_, err := OpenFile(filepath.Join(t.TempDir(), "missing", "log.jsonl"), nil)
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "logview: ") {
		t.Errorf("OpenFile = %v, want a logview error wrapping ErrNotExist", err)
	}
}

func TestFileSinkDiskFullReportedOnce(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	var report lockedBuffer
	s, err := OpenFile("/dev/full", &report)
	if err != nil {
		t.Skip(err)
	}
	defer s.Close()
	for range 5 {
		if err := s.Emit(Event{Kind: KindWarning}); err != nil {
			t.Fatalf("Emit = %v, want nil: a broken log must not stop the caller", err)
		}
	}
	if got := strings.Count(report.String(), "\n"); got != 1 {
		t.Errorf("reported %d times, want once: %q", got, report.String())
	}
	if !strings.Contains(report.String(), "no space left on device") {
		t.Errorf("report %q does not say why", report.String())
	}
}

// scriptedFile is an io.WriteCloser whose writes fail while fail is set.
type scriptedFile struct {
	fail   bool
	lines  int
	closed bool
}

func (f *scriptedFile) Write(p []byte) (int, error) {
	if f.fail {
		return 0, errDiskFull
	}
	f.lines++
	return len(p), nil
}

func (f *scriptedFile) Close() error { f.closed = true; return nil }

func TestFileSinkRecoversOnReopen(t *testing.T) {
	var report lockedBuffer
	var files []*scriptedFile
	openErr := error(nil)
	open := func(string) (io.WriteCloser, error) {
		if openErr != nil {
			return nil, openErr
		}
		f := &scriptedFile{}
		files = append(files, f)
		return f, nil
	}
	s, err := openFileSink("log", &report, open)
	if err != nil {
		t.Fatal(err)
	}
	emit := func(n int) {
		for range n {
			if err := s.Emit(Event{Kind: KindWarning}); err != nil {
				t.Fatal(err)
			}
		}
	}
	emit(1)
	files[0].fail = true
	emit(3)
	files[0].fail = false
	emit(2) // still dropped: only Reopen retries
	if files[0].lines != 1 {
		t.Errorf("first file got %d lines, want 1", files[0].lines)
	}

	openErr = os.ErrPermission
	if err := s.Reopen(); !errors.Is(err, os.ErrPermission) {
		t.Errorf("Reopen = %v, want ErrPermission", err)
	}
	if !files[0].closed {
		t.Error("Reopen did not close the old file")
	}
	emit(2)
	openErr = nil
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	emit(2)
	if len(files) != 2 || files[1].lines != 2 {
		t.Errorf("after recovery: %d files, want 2 with 2 lines", len(files))
	}
	rep := report.String()
	if strings.Count(rep, "\n") != 3 || strings.Count(rep, "reopen log file") != 1 || !strings.Contains(rep, "reopened") {
		t.Errorf("report %q: want the write failure, the failed reopen and the recovery, one line each", rep)
	}
}

func TestFileSinkReopenAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log.jsonl")
	var report lockedBuffer
	s, err := OpenFile(path, &report)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Emit(Event{Kind: KindWarning, Text: "before"}); err != nil {
		t.Fatal(err)
	}
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := s.Emit(Event{Kind: KindWarning, Text: "still old"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := s.Emit(Event{Kind: KindWarning, Text: "after"}); err != nil {
		t.Fatal(err)
	}
	if old, cur := countLines(t, rotated), countLines(t, path); old != 2 || cur != 1 {
		t.Errorf("rotated file %d lines, new file %d; want 2 and 1", old, cur)
	}

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Reopen(); err == nil {
			t.Fatal("Reopen into a removed directory succeeded")
		}
		if err := s.Emit(Event{Kind: KindWarning}); err != nil {
			t.Fatalf("Emit = %v, want nil", err)
		}
	}
	if n := strings.Count(report.String(), "\n"); n != 1 {
		t.Errorf("reported %d times, want once: %q", n, report.String())
	}
}

func TestFileSinkConcurrentLinesIntact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	s, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 200 {
				if err := s.Emit(Event{Kind: KindCommand, Session: strings.Repeat(string(rune('a'+g)), 300)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := NewDecoder(f, path)
	n := 0
	for {
		_, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 800 {
		t.Errorf("%d events, want 800", n)
	}
}

func TestFileSinkDeferred(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log.jsonl")
	s, err := OpenFile(path, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s.Deferred = true
	s.Emit(Event{V: Version, Kind: KindCommand, Text: "one"})
	s.Emit(Event{V: Version, Kind: KindCommand, Text: "two"})
	if n := countLines(t, path); n != 0 {
		t.Fatalf("%d lines written before Flush, want 0", n)
	}
	s.Flush()
	if n := countLines(t, path); n != 2 {
		t.Fatalf("%d lines after Flush, want 2", n)
	}
	s.Emit(Event{V: Version, Kind: KindCommand, Text: "three"})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	if n := countLines(t, path+".1"); n != 3 {
		t.Errorf("rotated file has %d lines, want the 3 emitted before Reopen", n)
	}
	s.Emit(Event{V: Version, Kind: KindCommand, Text: "four"})
	s.Close()
	if n := countLines(t, path); n != 1 {
		t.Errorf("new file has %d lines after Close, want 1", n)
	}
}

// TestFileSinkEmitAllocatesNothing checks that a JSON-lines FileSink encodes an event into its
// own buffer without allocating: the event is not copied to the heap for every line.
func TestFileSinkEmitAllocatesNothing(t *testing.T) {
	s, err := OpenFile(filepath.Join(t.TempDir(), "log.jsonl"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Deferred = true
	events := benchEvents()
	i := 0
	emit := func() {
		if err := s.Emit(events[i%len(events)]); err != nil {
			t.Fatal(err)
		}
		i++
	}
	for range 2000 { // the buffer grows to its working size and is written a few times
		emit()
	}
	if n := testing.AllocsPerRun(1000, emit); n != 0 {
		t.Errorf("FileSink.Emit allocates %v times per event, want 0", n)
	}
}
