package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// TestStuckStderrCostsLinesNotSessions puts popwire's stderr on a pipe that the test does not
// read (a paused pager, a stuck journal): once the 64 KiB pipe and popwire's queue are full,
// sessions must still be served, the lost transcript lines counted and said on stderr once it
// can write again, and the count given in the JSON log too. Then, with stderr stuck again,
// SIGTERM must end popwire within --shutdown-timeout plus one second, and the JSON log must
// hold every session and account for what stderr lost.
func TestStuckStderrCostsLinesNotSessions(t *testing.T) {
	t.Parallel()
	d := dovecotInstance(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() }) // after popwire is stopped: the test reads the pipe to its end
	const grace = 2 * time.Second
	pw := startPopwire(t, d, popwireOpts{logFile: true, stderr: w,
		args: []string{"--log-format", "json", "--shutdown-timeout", grace.String()},
		env:  []string{"GORACE=atexit_sleep_ms=0"}}) // a -race build otherwise sleeps 1 s at exit
	w.Close() // popwire holds the write end now

	// Each session logs about ten events of some 250 bytes: 500 sessions fill the pipe, the
	// output buffer and the queue several times over.
	const sessions = 500
	serveSessions(t, pw.plainAddr, sessions)

	// Reading the pipe again lets popwire say what stderr lost, after what it had queued.
	stderr := &pipeEvents{r: r}
	stderr.readUntil(t, func() bool { return stderr.dropped > 0 })
	var fileDropped int64
	var file []logview.Event
	waitFor(t, "the stderr drop count in the JSON log", func() bool {
		file = readEvents(t, pw.jsonLog)
		fileDropped = droppedBy(file, "stderr")
		return fileDropped > 0
	})
	if fileDropped != stderr.dropped {
		t.Errorf("JSON log says stderr dropped %d events, stderr says %d", fileDropped, stderr.dropped)
	}
	if !strings.Contains(stderr.lastDropped.Text, fmt.Sprintf("%d events dropped", stderr.dropped)) {
		t.Errorf("stderr's dropped event says %q, want %q in it", stderr.lastDropped.Text, fmt.Sprintf("%d events dropped", stderr.dropped))
	}
	if d := droppedBy(file, "log-file"); d > 0 {
		t.Errorf("the JSON log dropped %d events: a stuck stderr must not cost it events", d)
	}
	logged := countEvents(file) + droppedBy(file, "log-file")
	t.Logf("%d sessions: stderr showed %d events and dropped %d; %d logged", sessions, stderr.events, stderr.dropped, logged)
	if stderr.events+stderr.dropped != logged {
		t.Errorf("stderr showed %d events and dropped %d, but %d were logged: the loss is not accounted for",
			stderr.events, stderr.dropped, logged)
	}

	// Stuck again, and stopped while stuck, with a session that uses up the whole grace.
	serveSessions(t, pw.plainAddr, sessions)
	idle, err := dialPOP(pw.plainAddr, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer idle.conn.Close()
	pw.stopped = true
	start := time.Now()
	err, killed := pw.proc.stop(syscall.SIGTERM, grace+time.Second)
	if killed {
		t.Fatalf("popwire did not exit within %v of SIGTERM with --shutdown-timeout %v and stderr stuck", grace+time.Second, grace)
	}
	if err != nil {
		t.Errorf("popwire exit after SIGTERM: %v (want status 0)", err)
	}
	t.Logf("popwire exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	stderr.readToEnd(t)

	file = readEvents(t, pw.jsonLog)
	if n := closeEvents(pw.jsonLog); n != 2*sessions {
		t.Errorf("JSON log holds %d sessions ended by QUIT, want %d", n, 2*sessions)
	}
	if seen, closed := sessionsIn(file); closed != seen {
		t.Errorf("JSON log holds events of %d sessions but the close of %d", seen, closed)
	}
	logged = countEvents(file) + droppedBy(file, "log-file")
	shown, lost := stderr.events, droppedBy(file, "stderr")
	t.Logf("at exit: stderr showed %d events, the JSON log says it dropped %d; %d logged", shown, lost, logged)
	if shown+lost < logged {
		t.Errorf("stderr showed %d events and the JSON log says it dropped %d, but %d were logged: %d lost silently",
			shown, lost, logged, logged-shown-lost)
	}
	if shown > logged || lost > logged {
		t.Errorf("stderr showed %d events and dropped %d, more than the %d logged", shown, lost, logged)
	}
}

// serveSessions runs n short sessions (greeting, CAPA, QUIT) through addr, four at a time,
// and fails t unless each is served within 10 s; the first that is not stops the run.
func serveSessions(t *testing.T, addr string, n int) {
	t.Helper()
	work := make(chan int)
	failed := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range work {
				if err := shortSession(addr); err != nil {
					failed <- fmt.Errorf("session %d of %d not served: %w", i+1, n, err)
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range n {
		select {
		case work <- i:
		case err = <-failed:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-failed:
		default:
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// shortSession reads the greeting, lists the capabilities and quits, all within 10 s.
func shortSession(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	expect := func(prefix string) error {
		l, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(l, prefix) {
			return fmt.Errorf("got %q, want %s", l, prefix)
		}
		return nil
	}
	if err := expect("+OK"); err != nil {
		return err
	}
	if _, err := c.Write([]byte("CAPA\r\n")); err != nil {
		return err
	}
	if err := expect("+OK"); err != nil {
		return err
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if l == ".\r\n" {
			break
		}
	}
	if _, err := c.Write([]byte("QUIT\r\n")); err != nil {
		return err
	}
	return expect("+OK")
}

// pipeEvents reads popwire's JSON-lines stderr from a pipe and counts what it shows.
type pipeEvents struct {
	r           *os.File
	pending     []byte        // the start of a line not yet complete
	events      int64         // events other than dropped ones
	dropped     int64         // the sum of stderr's own dropped events
	lastDropped logview.Event // the last of those
}

// readUntil reads lines until done holds, for at most 30 s.
func (p *pipeEvents) readUntil(t *testing.T, done func() bool) {
	t.Helper()
	if err := p.r.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for !done() {
		n, err := p.r.Read(buf)
		p.add(t, buf[:n])
		if err != nil {
			t.Fatalf("reading popwire's stderr: %v (%d events and %d dropped so far)", err, p.events, p.dropped)
		}
	}
}

// readToEnd reads the rest of the pipe (popwire has exited); a last line cut short is ignored.
func (p *pipeEvents) readToEnd(t *testing.T) {
	t.Helper()
	if err := p.r.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := p.r.Read(buf)
		p.add(t, buf[:n])
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("reading popwire's stderr: %v", err)
			}
			return
		}
	}
}

// add counts the complete lines in what was read.
func (p *pipeEvents) add(t *testing.T, data []byte) {
	t.Helper()
	p.pending = append(p.pending, data...)
	for {
		i := bytes.IndexByte(p.pending, '\n')
		if i < 0 {
			return
		}
		line := p.pending[:i]
		p.pending = p.pending[i+1:]
		var e logview.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("stderr line %q: %v", line, err)
		}
		switch {
		case e.Kind != logview.KindDropped:
			p.events++
		case e.Output == "stderr":
			p.dropped += e.Dropped
			p.lastDropped = e
		}
	}
}

// countEvents counts the events that are not dropped-event accounting.
func countEvents(events []logview.Event) int64 {
	var n int64
	for _, e := range events {
		if e.Kind != logview.KindDropped {
			n++
		}
	}
	return n
}

// sessionsIn counts the sessions that have events in events, and those of them that have a
// close event.
func sessionsIn(events []logview.Event) (seen, closed int) {
	ids := make(map[string]bool)
	for _, e := range events {
		if e.Session != "" {
			ids[e.Session] = ids[e.Session] || e.Kind == logview.KindClose
		}
	}
	for _, c := range ids {
		if c {
			closed++
		}
	}
	return len(ids), closed
}

// droppedBy sums what the dropped events in events say output lost.
func droppedBy(events []logview.Event, output string) int64 {
	var n int64
	for _, e := range events {
		if e.Kind == logview.KindDropped && e.Output == output {
			n += e.Dropped
		}
	}
	return n
}
