package pcapng

import (
	"fmt"
	"io"
	"sync"

	"github.com/popwire/popwire/internal/logview"
)

// Writer is a logview.Sink that writes a capture of the events it is given to an io.Writer,
// one file: what popwire view --pcap writes. It is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	enc *Encoder
	w   io.Writer
	buf []byte
}

// NewWriter writes the section header to w and returns the Writer. The Writer does not close w.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	cw := &Writer{enc: NewEncoder(opts), w: w}
	head, err := cw.enc.Begin(nil)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(head); err != nil {
		return nil, fmt.Errorf("pcapng: write: %w", err)
	}
	return cw, nil
}

// Emit writes the packets e stands for.
func (cw *Writer) Emit(e logview.Event) error {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	b, err := cw.enc.Append(cw.buf[:0], &e)
	if err != nil {
		return err
	}
	if len(b) > 0 {
		if _, err := cw.w.Write(b); err != nil {
			return fmt.Errorf("pcapng: write: %w", err)
		}
	}
	if cap(b) <= 4*MaxSegment {
		cw.buf = b[:0]
	} else {
		cw.buf = nil // a message's content went through: let it go
	}
	return nil
}

// Stats returns what the Writer wrote and left out so far (see Encoder.Stats).
func (cw *Writer) Stats() Stats {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	return cw.enc.Stats()
}
