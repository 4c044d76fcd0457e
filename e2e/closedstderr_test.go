package e2e

import (
	"os"
	"testing"

	"github.com/popwire/popwire/internal/logview"
)

// TestClosedStderrCostsLinesNotSessions puts popwire's stdout and stderr on a pipe whose
// reader has gone (a pager that was quit, `| head`): a write there fails with EPIPE, and by
// default the kernel's SIGPIPE kills a Go program that writes to a broken stdout or stderr.
// Sessions must still be served, popwire must stay up and exit 0 on SIGTERM, and the JSON log
// must account for every transcript line stderr lost.
func TestClosedStderrCostsLinesNotSessions(t *testing.T) {
	t.Parallel()
	d := dovecotInstance(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pw := startPopwire(t, d, popwireOpts{logFile: true, stderr: w})
	w.Close() // popwire holds the write end now
	r.Close() // and nobody reads it again

	const sessions = 50
	serveSessions(t, pw.plainAddr, sessions)
	if pw.proc.exited() {
		t.Fatalf("popwire exited with its stderr closed: %v", pw.proc.err)
	}
	waitFor(t, "the stderr loss in the JSON log", func() bool { return droppedBy(readEvents(t, pw.jsonLog), "stderr") > 0 })
	serveSessions(t, pw.plainAddr, sessions)
	pw.stop(t)

	file := readEvents(t, pw.jsonLog)
	if n := closeEvents(pw.jsonLog); n != 2*sessions {
		t.Errorf("JSON log holds %d sessions ended by QUIT, want %d", n, 2*sessions)
	}
	var inSessions int64 // every one came after the reader had gone
	for _, e := range file {
		if e.Session != "" {
			inSessions++
		}
	}
	lost, logged := droppedBy(file, "stderr"), countEvents(file)
	t.Logf("%d events logged, %d of them in sessions; the JSON log says stderr lost %d", logged, inSessions, lost)
	if lost < inSessions || lost > logged {
		t.Errorf("the JSON log says stderr lost %d events; it lost at least the %d of the sessions, and at most the %d logged",
			lost, inSessions, logged)
	}
	if d := droppedBy(file, "log-file"); d > 0 {
		t.Errorf("the JSON log dropped %d events: a closed stderr must not cost it events", d)
	}
	for _, e := range file {
		if e.Kind == logview.KindDropped && e.Output == "stderr" {
			t.Logf("for instance: %s", e.Text)
			break
		}
	}
}
