package logview

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// FileSink is a Sink that appends JSON lines to a file. The file is opened with
// O_APPEND|O_CREATE and, when created, mode 0600 (an existing file keeps its mode). A write
// failure (disk full, file system gone) is reported once on the report writer and the event is
// dropped: Emit still returns nil, so logging trouble never stops a session. Events stay dropped
// until Reopen succeeds. A FileSink is safe for concurrent use.
type FileSink struct {
	path   string
	report io.Writer

	mu     sync.Mutex
	f      io.WriteCloser // nil after a failed Reopen
	buf    []byte         // reused line buffer
	broken bool           // a write or reopen failed; events are dropped until Reopen succeeds
	open   func(path string) (io.WriteCloser, error)
}

// OpenFile opens (creating if needed) the log file at path. Trouble later on is reported on
// report (typically os.Stderr; nil means it is not reported). The error of the first open is
// returned, so a bad --log-file stops the program at start.
func OpenFile(path string, report io.Writer) (*FileSink, error) {
	return openFileSink(path, report, openAppend)
}

func openAppend(path string) (io.WriteCloser, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

func openFileSink(path string, report io.Writer, open func(string) (io.WriteCloser, error)) (*FileSink, error) {
	if report == nil {
		report = io.Discard
	}
	f, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("logview: open log file: %w", err)
	}
	return &FileSink{path: path, report: report, f: f, buf: make([]byte, 0, 512), open: open}, nil
}

// Emit appends e as one line with a single write. It returns nil even when the write fails
// (the failure is reported once); it returns an error only for an event that cannot be encoded.
func (s *FileSink) Emit(e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken || s.f == nil {
		return nil
	}
	line, err := appendEvent(s.buf[:0], &e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	s.buf = line
	if _, err := s.f.Write(line); err != nil {
		s.fail(fmt.Errorf("logview: write log file %s: %w; dropping events until it is reopened", s.path, err))
	}
	return nil
}

// fail marks the sink broken and reports err, unless a failure is already being reported.
func (s *FileSink) fail(err error) {
	if s.broken {
		return
	}
	s.broken = true
	fmt.Fprintln(s.report, err)
}

// Reopen closes the current file and opens the path again, as after a log rotation (the caller
// wires it to SIGHUP). On success events are written again, and if the sink was broken the
// recovery is reported. On failure the sink is broken (reported once) and the error returned.
func (s *FileSink) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		_ = s.f.Close() // a close error of the old file says nothing about the new one
		s.f = nil
	}
	f, err := s.open(s.path)
	if err != nil {
		err = fmt.Errorf("logview: reopen log file: %w", err)
		s.fail(err)
		return err
	}
	s.f = f
	if s.broken {
		s.broken = false
		fmt.Fprintf(s.report, "logview: log file %s reopened; logging resumed\n", s.path)
	}
	return nil
}

// Close closes the file. Emit after Close drops events.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("logview: close log file: %w", err)
	}
	return nil
}
