package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// TestLogToStdoutPipe runs serve --config with log.file /dev/stdout and log.format none, as
// deploy/kubernetes/configmap.yaml does, with stdout and stderr a pipe as a container runtime
// gives them: everything popwire writes must be JSON lines, a session before and one after a
// SIGHUP (which reopens the log file) must both be logged, and the reload too.
func TestLogToStdoutPipe(t *testing.T) {
	t.Parallel()
	d := dovecotInstance(t)
	bin := popwireBinary(t)
	popwireCA(t)
	listen, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "popwire.yaml")
	conf := fmt.Sprintf(`log: {file: /dev/stdout, format: none}
routes:
  - name: stdout
    listen: [{address: %q}]
    upstream: {address: %q, tls: implicit, ca: [%q], name: %s}
`, loopback(listen), loopback(d.tlsPort), d.ca.CertPEM, serverName)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out lockedBuffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(&out, r) // until popwire, the last writer, exits
	}()
	pw := &popwireProc{}
	pw.run(t, bin, []string{"serve", "--config", path}, w, nil)
	w.Close()
	if err := waitPort(loopback(listen), 30*time.Second, func() bool { return !pw.proc.exited() }); err != nil {
		t.Fatal(err)
	}
	session := func() {
		t.Helper()
		c, err := dialPOP(loopback(listen), "", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.quit(); err != nil {
			t.Fatal(err)
		}
	}
	session()
	if err := pw.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload event on stdout", func() bool { return bytes.Contains(out.bytes(), []byte(`"kind":"reload"`)) })
	session()
	pw.stop(t)
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("stdout still open 10 s after popwire exited")
	}

	var kinds []logview.Kind
	sc := bufio.NewScanner(bytes.NewReader(out.bytes()))
	for sc.Scan() {
		var e logview.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.V != logview.Version {
			t.Fatalf("popwire wrote %q, not a JSON log event (%v)", sc.Text(), err)
		}
		kinds = append(kinds, e.Kind)
	}
	count := map[logview.Kind]int{}
	reloadAt := -1
	for i, k := range kinds {
		count[k]++
		if k == logview.KindReload {
			reloadAt = i
		}
	}
	if count[logview.KindOpen] < 3 || count[logview.KindClose] < 3 || reloadAt < 0 {
		t.Fatalf("events on stdout %v: want the reload and the waitPort probe's, the two sessions' open and close", kinds)
	}
	after := 0
	for _, k := range kinds[reloadAt:] {
		if k == logview.KindClose {
			after++
		}
	}
	if after == 0 {
		t.Errorf("no session logged after the reload (SIGHUP reopens /dev/stdout): %v", kinds)
	}
}

// lockedBuffer is a bytes.Buffer that one goroutine writes while another reads it; mu guards b.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// bytes returns a copy of what was written so far.
func (l *lockedBuffer) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}
