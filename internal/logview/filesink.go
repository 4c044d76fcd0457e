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
//
// With Deferred set, Emit only appends the line to a buffer, and Flush writes what is
// buffered in one call; an Async sink given Flush calls it a few milliseconds after each burst
// of events, so a busy proxy writes its log in large pieces. A buffer that reaches 64 KiB is
// written at once. The zero Deferred writes every line as it is emitted.
//
// OpenFileEncoder makes a FileSink that writes another format than JSON lines.
type FileSink struct {
	path   string
	report io.Writer
	enc    Encoder // nil: JSON lines

	// Deferred makes Emit buffer lines until Flush; set it before the first Emit.
	Deferred bool

	mu     sync.Mutex
	f      io.WriteCloser // nil after a failed Reopen
	buf    []byte         // reused line buffer; with Deferred, the lines not yet written
	charge lineCharge     // what the content encoded into buf is charged (one line's: see Emit); returned once buf is written
	broken bool           // a write or reopen failed; events are dropped until Reopen succeeds
	failed bool           // the last Reopen failed, and that was reported
	open   func(path string) (io.WriteCloser, error)
}

// OpenFile opens (creating if needed) the log file at path. Trouble later on is reported on
// report (typically os.Stderr; nil means it is not reported). The error of the first open is
// returned, so a bad --log-file stops the program at start.
func OpenFile(path string, report io.Writer) (*FileSink, error) {
	return openFileSink(path, report, openAppend)
}

// Encoder writes events in a file format other than JSON lines (a pcapng capture), for
// OpenFileEncoder. The FileSink calls it under its lock, one call at a time.
type Encoder interface {
	// Begin appends to dst what starts a file: the FileSink calls it for each file it opens,
	// the first one and each one it reopens.
	Begin(dst []byte) ([]byte, error)
	// Append appends what stands for e, which may be nothing, to dst.
	Append(dst []byte, e *Event) ([]byte, error)
}

// OpenFileEncoder is OpenFile for a file that enc encodes: each file it opens starts with
// what enc.Begin gives, and each event is written as enc.Append encodes it.
func OpenFileEncoder(path string, report io.Writer, enc Encoder) (*FileSink, error) {
	s, err := openFileSink(path, report, openAppend)
	if err != nil {
		return nil, err
	}
	s.enc = enc
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.beginLocked(); err != nil {
		s.f.Close()
		return nil, err
	}
	return s, nil
}

// beginLocked writes what starts a file in the sink's format, if any. s.mu is held.
func (s *FileSink) beginLocked() error {
	if s.enc == nil {
		return nil
	}
	head, err := s.enc.Begin(s.buf[:0])
	if err != nil {
		return fmt.Errorf("logview: start %s: %w", s.path, err)
	}
	s.buf = head
	s.writeLocked()
	return nil
}

// openAppend opens path for appending. /dev/stdout and /dev/stderr are the process's own
// standard streams, used as they are and never closed: open(2) refuses them when they are
// sockets (systemd's journal, some container runtimes), and reopening them changes nothing.
func openAppend(path string) (io.WriteCloser, error) {
	switch path {
	case "/dev/stdout":
		return stdStream{os.Stdout}, nil
	case "/dev/stderr":
		return stdStream{os.Stderr}, nil
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

// stdStream is a standard stream as a log file: Close leaves it open.
type stdStream struct{ *os.File }

func (stdStream) Close() error { return nil }

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
	start := 0
	if s.Deferred {
		start = len(s.buf)
	}
	line, err := s.encode(s.buf[:start], e)
	if err != nil {
		return err
	}
	s.buf = line
	// A line holding content is written at once, so that its charge returns at once.
	if len(s.buf) > start && (!s.Deferred || len(s.buf) >= maxDeferred || s.charge.n > 0) {
		s.writeLocked()
	}
	return nil
}

// encode appends e to dst in the sink's format: a JSON line, or what its Encoder makes. A
// JSON line is encoded from the caller's copy of e; only an Encoder, called through an
// interface, gets a copy of its own on the heap (encodeWith). The encoding of a held message
// content is charged to s.charge (see JSONWriter.Emit).
func (s *FileSink) encode(dst []byte, e Event) ([]byte, error) {
	if s.enc != nil {
		return s.encodeWith(dst, e)
	}
	line, err := appendEvent(dst, &e, &s.charge)
	if err != nil {
		s.charge.release()
		return nil, err
	}
	return append(line, '\n'), nil
}

// encodeWith appends what s.enc makes of e to dst.
func (s *FileSink) encodeWith(dst []byte, e Event) ([]byte, error) { return s.enc.Append(dst, &e) }

// maxDeferred is the most a Deferred FileSink buffers before it writes.
const maxDeferred = 64 << 10

// Flush writes the lines a Deferred sink buffered. Like Emit it reports a failure once and
// returns nil, so that logging trouble never stops the caller.
func (s *FileSink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 && !s.broken && s.f != nil {
		s.writeLocked()
	}
	return nil
}

// writeLocked writes the buffered bytes and empties the buffer. s.mu is held.
func (s *FileSink) writeLocked() {
	if _, err := s.f.Write(s.buf); err != nil {
		s.fail(fmt.Errorf("logview: write log file %s: %w; dropping events until it is reopened", s.path, err))
	}
	s.buf = reusable(s.buf)
	s.charge.release()
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
// recovery is reported. On failure the sink is broken and the error returned; it is reported
// here, once until a Reopen succeeds (also when a write failure was reported before), so the
// caller need not report it again.
func (s *FileSink) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 && !s.broken && s.f != nil {
		s.writeLocked() // lines emitted before the rotation belong in the old file
	}
	s.buf = s.buf[:0]
	if s.f != nil {
		_ = s.f.Close() // a close error of the old file says nothing about the new one
		s.f = nil
	}
	f, err := s.open(s.path)
	if err != nil {
		err = fmt.Errorf("logview: reopen log file: %w", err)
		if !s.failed {
			s.broken = false // a reported write failure does not answer the reopen
		}
		s.failed = true
		s.fail(err)
		return err
	}
	s.f = f
	s.failed = false
	if s.broken {
		s.broken = false
		fmt.Fprintf(s.report, "logview: log file %s reopened; logging resumed\n", s.path)
	}
	return s.beginLocked()
}

// Close writes what is buffered and closes the file. Emit after Close drops events.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	if len(s.buf) > 0 && !s.broken {
		s.writeLocked()
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("logview: close log file: %w", err)
	}
	return nil
}
