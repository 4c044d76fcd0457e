package logview

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLineSize is the longest JSON line the Decoder accepts, newline included. Longer lines are
// skipped and reported as a LineError. It leaves room for the largest event popwire writes: a
// body event under --bodies full carries up to 16 MiB of content, which JSON escaping can grow
// sixfold. Memory is taken only as long lines arrive.
const MaxLineSize = 100 << 20

// LineError reports a line of a JSON-lines log that is not an event. The Decoder that returned
// it can go on reading the following lines.
type LineError struct {
	Name string // the input's name as given to NewDecoder; "" when none
	Line int    // 1-based line number
	Err  error  // what is wrong with the line
}

// Error says where the bad line is and what is wrong; it never quotes the line.
func (e *LineError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("logview: line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("logview: %s:%d: %v", e.Name, e.Line, e.Err)
}

// Unwrap returns the underlying cause.
func (e *LineError) Unwrap() error { return e.Err }

var (
	errLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineSize)
	errNoKind      = errors.New(`event has no "kind"`)
)

// Decoder reads events from a JSON-lines log, one per line. Unknown fields are ignored, so logs
// written by newer binaries stay readable; blank lines are skipped.
type Decoder struct {
	r    *bufio.Reader
	name string
	line int
	long []byte // accumulates a line longer than the bufio buffer
}

// NewDecoder returns a Decoder reading r; name (a file name, or "" for none) prefixes line errors.
func NewDecoder(r io.Reader, name string) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, 64<<10), name: name}
}

// Next returns the next event. At the end of the input it returns io.EOF; on a read error it
// returns that error. A line that is not an event yields a *LineError and the Decoder moves on
// to the next line, so the caller may report it and call Next again. A final line without a
// newline is decoded like any other.
func (d *Decoder) Next() (Event, error) {
	for {
		line, err := d.readLine()
		if err != nil {
			return Event{}, err
		}
		d.line++
		if line == nil {
			return Event{}, &LineError{Name: d.name, Line: d.line, Err: errLineTooLong}
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return Event{}, &LineError{Name: d.name, Line: d.line, Err: describeJSONError(err)}
		}
		if e.Kind == "" {
			return Event{}, &LineError{Name: d.name, Line: d.line, Err: errNoKind}
		}
		upgrade(&e)
		return e, nil
	}
}

// upgrade brings an event an older popwire wrote to the current schema: anomaly events named
// their side in Leg ("client", "upstream") before they carried Dir.
func upgrade(e *Event) {
	if e.Kind == KindAnomaly && e.Dir == "" {
		if dir := LegDir(e.Leg); dir != "" {
			e.Dir, e.Leg = dir, ""
		}
	}
}

// readLine returns the next line without its newline, or nil with a nil error for a line over
// MaxLineSize (which it consumes). At the end of input it returns io.EOF.
func (d *Decoder) readLine() ([]byte, error) {
	d.long = d.long[:0]
	tooLong := false
	for {
		chunk, err := d.r.ReadSlice('\n')
		switch {
		case err == nil:
			if tooLong || len(d.long)+len(chunk) > MaxLineSize {
				return nil, nil
			}
			if len(d.long) == 0 {
				return chunk, nil
			}
			d.long = append(d.long, chunk...)
			return d.long, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if !tooLong && len(d.long)+len(chunk) <= MaxLineSize {
				d.long = append(d.long, chunk...)
			} else {
				tooLong = true
				d.long = d.long[:0]
			}
		case errors.Is(err, io.EOF):
			if len(chunk) == 0 && len(d.long) == 0 && !tooLong {
				return nil, io.EOF
			}
			if tooLong || len(d.long)+len(chunk) > MaxLineSize {
				return nil, nil
			}
			d.long = append(d.long, chunk...)
			return d.long, nil
		default:
			return nil, fmt.Errorf("logview: read %s: %w", d.nameOr("log"), err)
		}
	}
}

func (d *Decoder) nameOr(def string) string {
	if d.name == "" {
		return def
	}
	return d.name
}

// describeJSONError keeps the position and type facts of a JSON error but never the line's
// content, which could be anything an attacker wrote into the file.
func describeJSONError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("invalid JSON at byte %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("field %q: want %s", typ.Field, typ.Type)
	}
	return errors.New("invalid event")
}
