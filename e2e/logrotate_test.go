package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLogFileReopenedOnSIGHUP rotates popwire's JSON log as logrotate does (rename, then
// SIGHUP): the session before the rotation stays in the old file, the one after goes to a new
// file created with mode 0600.
func TestLogFileReopenedOnSIGHUP(t *testing.T) {
	t.Parallel()
	d := dovecotInstance(t)
	pw := startPopwire(t, d, popwireOpts{logFile: true})

	session := func() {
		t.Helper()
		c, err := dialPOP(pw.plainAddr, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.quit(); err != nil {
			t.Fatal(err)
		}
	}
	session()
	waitFor(t, "the first session's close event in the log", func() bool { return closeEvents(pw.jsonLog) == 1 })

	rotated := pw.jsonLog + ".1"
	if err := os.Rename(pw.jsonLog, rotated); err != nil {
		t.Fatal(err)
	}
	if err := pw.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new log file after SIGHUP", func() bool { _, err := os.Stat(pw.jsonLog); return err == nil })
	session()
	waitFor(t, "the second session's close event in the new log", func() bool { return closeEvents(pw.jsonLog) == 1 })

	if n := closeEvents(rotated); n != 1 {
		t.Errorf("rotated log holds %d close events, want the first session's only", n)
	}
	fi, err := os.Stat(pw.jsonLog)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("new log file mode %v, want 0600", mode)
	}
}

// TestFailedReopenReportedOnce removes the log file's directory and sends SIGHUP: the failed
// reopen is said once on stderr, and popwire goes on serving.
func TestFailedReopenReportedOnce(t *testing.T) {
	t.Parallel()
	d := dovecotInstance(t)
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	pw := startPopwire(t, d, popwireOpts{logPath: filepath.Join(dir, "popwire.jsonl")})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := pw.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	const report = "reopen log file"
	waitFor(t, "the failed reopen on stderr", func() bool { return strings.Contains(pw.output(), report) })
	// A session after the report: once its QUIT is in the transcript, a second report of the
	// same failure would be there too.
	c, err := dialPOP(pw.plainAddr, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.quit(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session after the report on stderr", func() bool {
		out := pw.output()
		return strings.Contains(out[strings.Index(out, report):], "QUIT")
	})
	if n := strings.Count(pw.output(), report); n != 1 {
		t.Errorf("the failed reopen is reported %d times on stderr, want once", n)
	}
}

// closeEvents counts the close events of sessions that ended with QUIT in a JSON log (0 when
// it cannot be read); the readiness probes' sessions do not count.
func closeEvents(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(data, []byte(`"quit_sent":true`))
}

// waitFor polls cond for up to 10 s (the log is written in bursts a few milliseconds apart).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
