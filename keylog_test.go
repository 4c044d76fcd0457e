package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// within runs f and fails t when it has not returned after a generous bound: a key log that
// blocks would hang the test otherwise.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// reports collects what a keyLog says.
type reports struct {
	mu    sync.Mutex
	texts []string
}

func (r *reports) add(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.texts = append(r.texts, text)
}

func (r *reports) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.texts, "\n")
}

func TestKeyLogFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.log")
	var r reports
	k, err := openKeyLog(path, r.add)
	if err != nil {
		t.Fatal(err)
	}
	line := "CLIENT_RANDOM 0011 2233\n"
	k.Write([]byte(line))
	if err := k.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key log created with mode %04o, want 0600", fi.Mode().Perm())
	}
	if got, _ := os.ReadFile(path); string(got) != line {
		t.Errorf("key log holds %q, want %q", got, line)
	}
	if r.all() != "" {
		t.Errorf("reported %q", r.all())
	}
}

// TestKeyLogRefusesWhatOthersMayRead checks that an existing key log that group or others may
// read is refused, and left as it was: popwire does not write secrets into it.
func TestKeyLogRefusesWhatOthersMayRead(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o602} {
		path := filepath.Join(t.TempDir(), "keys.log")
		if err := os.WriteFile(path, []byte("old\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode) // the umask narrowed it
		_, err := openKeyLog(path, func(string) {})
		if !errors.Is(err, errKeyLogMode) || !strings.Contains(err.Error(), fmt.Sprintf("%04o", mode)) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: error %v, want one naming the mode and chmod 600", mode, err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != mode {
			t.Errorf("mode %04o changed to %04o", mode, fi.Mode().Perm())
		}
	}
	path := filepath.Join(t.TempDir(), "keys.log")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := openKeyLog(path, func(string) {})
	if err != nil {
		t.Fatalf("mode 0600: %v", err)
	}
	k.close(context.Background())
}

// TestKeyLogRefusesANamedPipe checks that a FIFO is refused rather than opened: opening one
// for writing blocks until a reader comes, and writing to it blocks while nobody reads.
func TestKeyLogRefusesANamedPipe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	within(t, "openKeyLog of a FIFO", func() {
		if _, err := openKeyLog(path, func(string) {}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO: error %v, want not a regular file", err)
		}
	})
}

// stuckFile is a key log file whose writes wait until release is closed.
type stuckFile struct {
	release chan struct{}
	mu      sync.Mutex
	lines   int
}

func (s *stuckFile) Write(p []byte) (int, error) {
	<-s.release
	s.mu.Lock()
	s.lines++
	s.mu.Unlock()
	return len(p), nil
}

func (s *stuckFile) Close() error { return nil }

// TestKeyLogNeverWaitsForTheFile writes more lines than the queue holds to a key log whose
// file is stuck: every Write must return, and each line is either written or counted as
// dropped and said once the file moves again.
func TestKeyLogNeverWaitsForTheFile(t *testing.T) {
	f := &stuckFile{release: make(chan struct{})}
	var r reports
	k := newKeyLog(f, "keys.log", r.add)
	total := keyLogQueue + 50
	within(t, "Write to a stuck key log", func() {
		for range total {
			k.Write([]byte("CLIENT_RANDOM 00 11\n"))
		}
	})
	close(f.release)
	within(t, "close", func() {
		if err := k.close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	var dropped int
	for _, text := range strings.Split(r.all(), "\n") {
		var n int
		if _, err := fmt.Sscanf(text, "--keylog: %d key log lines dropped", &n); err == nil {
			dropped += n
		}
	}
	if dropped == 0 || f.lines+dropped != total {
		t.Errorf("%d lines written and %d said dropped, want %d in all with some dropped; reports:\n%s", f.lines, dropped, total, r.all())
	}
}

// TestKeyLogCloseGivesUpOnAStuckFile checks that stopping does not wait for a file stuck in a
// write beyond its deadline.
func TestKeyLogCloseGivesUpOnAStuckFile(t *testing.T) {
	f := &stuckFile{release: make(chan struct{})}
	defer close(f.release)
	k := newKeyLog(f, "keys.log", func(string) {})
	k.Write([]byte("CLIENT_RANDOM 00 11\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	within(t, "close", func() {
		if err := k.close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("close: %v, want the deadline", err)
		}
	})
}
