package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/logview"
)

// keyLogQueue is how many key log lines wait for the file at most. A TLS 1.3 handshake
// writes four (a TLS 1.2 one, one), so the queue holds the secrets of about a thousand
// handshakes.
const keyLogQueue = 4096

// keyLog is the --keylog file: the TLS secrets of both legs of every session, one NSS key log
// line each, for decrypting a capture of them (Wireshark's tls.keylog_file). crypto/tls calls
// Write during each handshake under a lock that every handshake of the process shares, so a
// file that stalls (a hung network file system) would stall every new session: Write only
// queues a copy of the line and returns, and a goroutine of its own writes the queue to the
// file. A full queue drops the line; the loss is counted and said (report), since the
// sessions whose secrets were lost cannot be decrypted.
type keyLog struct {
	w      io.WriteCloser
	path   string
	report func(text string) // says a loss or a write failure; called on the writing goroutine
	lines  chan []byte
	stop   chan struct{} // closed by close: write what is queued, then end
	done   chan struct{} // closed when the goroutine has returned
	lost   atomic.Int64  // lines dropped on a full queue, in all
	once   sync.Once
}

// errKeyLogMode is the error of a --keylog file that others may read.
var errKeyLogMode = errors.New("others may read it, and the secrets in it decrypt every session")

// openKeyLog opens the key log at path for appending, creating it with mode 0600. It refuses a
// file that group or others may access (the secrets decrypt every session: chmod 600 it, or
// name a new file) and anything but a regular file (a named pipe nobody reads would block).
func openKeyLog(path string, report func(string)) (*keyLog, error) {
	if fi, err := os.Stat(path); err == nil {
		if err := keyLogUsable(path, fi); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("--keylog: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--keylog: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = keyLogUsable(path, fi) // what was opened, should the path have changed meanwhile
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return newKeyLog(f, path, report), nil
}

// keyLogUsable reports why the file fi describes cannot hold the key log, or nil.
func keyLogUsable(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("--keylog %s: not a regular file (%s)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("--keylog %s has mode %04o: %w; chmod 600 it, or name a new file", path, perm, errKeyLogMode)
	}
	return nil
}

// newKeyLog starts the goroutine that writes the lines given to Write to w.
func newKeyLog(w io.WriteCloser, path string, report func(string)) *keyLog {
	k := &keyLog{w: w, path: path, report: report, lines: make(chan []byte, keyLogQueue),
		stop: make(chan struct{}), done: make(chan struct{})}
	go k.drain()
	return k
}

// Write queues a copy of p, one key log line, and returns at once; a full queue drops it.
func (k *keyLog) Write(p []byte) (int, error) {
	select {
	case k.lines <- append([]byte(nil), p...):
	default:
		k.lost.Add(1)
	}
	return len(p), nil
}

// drain writes queued lines until close, then what is still queued. After each write it says
// how many lines were lost since it last did.
func (k *keyLog) drain() {
	defer close(k.done)
	var told int64
	failed := false
	write := func(line []byte) {
		if _, err := k.w.Write(line); err != nil && !failed {
			failed = true
			k.report(fmt.Sprintf("--keylog: %v: the secrets of some sessions are not in %s", err, k.path))
		}
		if n := k.lost.Load(); n > told {
			k.report(fmt.Sprintf("--keylog: %d key log lines dropped: %s could not keep up; the sessions they belong to cannot be decrypted", n-told, k.path))
			told = n
		}
	}
	for {
		select {
		case line := <-k.lines:
			write(line)
		case <-k.stop:
			for {
				select {
				case line := <-k.lines:
					write(line)
				default:
					return
				}
			}
		}
	}
}

// close writes what is queued and closes the file, waiting for at most ctx; a file stuck in
// a write is given up on (its goroutine ends when the write does).
func (k *keyLog) close(ctx context.Context) error {
	k.once.Do(func() { close(k.stop) })
	select {
	case <-k.done:
		return k.w.Close()
	case <-ctx.Done():
		return fmt.Errorf("--keylog: %s still blocked when popwire stopped: %w", k.path, ctx.Err())
	}
}

// keyLogStartWarning is said at start when --keylog is on; every session repeats it.
const keyLogStartWarning = "--keylog %s: the TLS secrets of both legs of every session are written there; anyone with that file can decrypt a capture of the sessions (and read the mail and credentials in them)"

// startKeyLog opens --keylog, when given, and says at start what it means: on sink, or on
// stderr when nothing is logged. Trouble writing it later is said the same way. It returns
// nil without --keylog.
func startKeyLog(c *cli.Context, sink logview.Sink) (*keyLog, error) {
	path := c.String("keylog")
	if path == "" {
		return nil, nil
	}
	say := func(text string) {
		if sink == nil {
			fmt.Fprintf(c.App.ErrWriter, "popwire: warning: %s\n", text)
			return
		}
		// A failing sink reports itself.
		_ = sink.Emit(logview.Stamp(logview.Event{Kind: logview.KindWarning, Text: text}))
	}
	k, err := openKeyLog(path, say)
	if err != nil {
		return nil, err
	}
	say(fmt.Sprintf(keyLogStartWarning, path))
	return k, nil
}

// stopKeyLog writes what the key log holds and closes it, for at most logStopTimeout; a
// failure is said on stderr, the logs being stopped by then.
func stopKeyLog(k *keyLog) {
	ctx, cancel := context.WithTimeout(context.Background(), logStopTimeout)
	defer cancel()
	if err := k.close(ctx); err != nil {
		k.report(err.Error())
	}
}
