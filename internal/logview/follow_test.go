package logview

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer collects View output written from another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func appendLine(t *testing.T, path string, flag int, text string) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, err := Event{V: Version, Kind: KindWarning, Text: text}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls out until it contains want or the deadline passes.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never showed %q; got:\n%s", want, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestViewFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log.jsonl")
	appendLine(t, path, os.O_APPEND, "first")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- View(ctx, ViewOptions{Follow: true, PollInterval: 5 * time.Millisecond}, []string{path}, &out)
	}()
	waitFor(t, &out, "first")

	appendLine(t, path, os.O_APPEND, "grown")
	waitFor(t, &out, "grown")

	appendLine(t, path, os.O_TRUNC, "after-truncation")
	waitFor(t, &out, "after-truncation")

	// A line written just before the rotation, maybe not read yet, must not be lost.
	appendLine(t, path, os.O_APPEND, "late-in-old")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLine(t, path, os.O_APPEND, "rotated-new")
	waitFor(t, &out, "rotated-new")
	waitFor(t, &out, "late-in-old")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("View after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("View did not stop on cancel")
	}
	if n := strings.Count(out.String(), "first"); n != 1 {
		t.Errorf("first shown %d times, want once", n)
	}
}
