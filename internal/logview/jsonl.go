package logview

import (
	"fmt"
	"io"
	"sync"
)

// JSONWriter is a Sink that writes each event as one JSON line (see Event.MarshalJSON) with a
// single Write call, so lines from concurrent sessions never interleave, even on a file opened
// with O_APPEND shared by several processes.
type JSONWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte // reused line buffer, guarded by mu
}

// maxReusedBuffer caps the line buffer a sink keeps between events. A buffer that grew past
// it for a large event (a message's content under --bodies full) is let go once written, so
// that the sink does not hold that much memory for good.
const maxReusedBuffer = 256 << 10

// reusable returns buf emptied for the next event, or a fresh small buffer when buf is larger
// than maxReusedBuffer.
func reusable(buf []byte) []byte {
	if cap(buf) > maxReusedBuffer {
		return make([]byte, 0, 512)
	}
	return buf[:0]
}

// NewJSONWriter returns a JSONWriter writing to w. The JSONWriter does not close w.
func NewJSONWriter(w io.Writer) *JSONWriter {
	return &JSONWriter{w: w, buf: make([]byte, 0, 512)}
}

// Emit writes e as one line. It returns the write error, if any, wrapped. The encoding of a
// held message content is charged to its owner until the line is written; when the owner
// refuses, the line leaves the content out and says so (content_omitted).
func (j *JSONWriter) Emit(e Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var lc lineCharge
	defer lc.release()
	line, err := appendEvent(j.buf[:0], &e, &lc)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	j.buf = reusable(line)
	if _, err := j.w.Write(line); err != nil {
		return fmt.Errorf("logview: write event: %w", err)
	}
	return nil
}
