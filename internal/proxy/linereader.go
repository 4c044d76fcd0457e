package proxy

import (
	"bytes"
	"io"
)

// Client line buffer sizes: small while a session idles, growing up to maxClientLine for a
// long SASL response and shrinking back once it is consumed. A line longer than
// maxClientLine is handed on in pieces, never cut.
const (
	initClientLine = 512
	maxClientLine  = 64 << 10
)

// lineReader reads client lines one at a time from r. Its buffer grows from initClientLine
// to max when a line needs it, goes back to initClientLine once every buffered byte is
// consumed, and is owned by the reader: a returned line is valid until the next call.
type lineReader struct {
	r    io.Reader
	buf  []byte
	head int // start of the unread bytes
	tail int // end of the unread bytes
	max  int
	err  error
	// quiet: the reader's connection has a quiet deadline (see freshStack), so a read that
	// runs into a deadline is no end of the stream: next returns the error without keeping
	// it and without handing out an unterminated rest.
	quiet bool
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: r, buf: make([]byte, min(initClientLine, max)), max: max}
}

// next returns the next line with its LF and complete=true; or, when max bytes hold no LF,
// those bytes with complete=false (the line continues). When reading fails, an unterminated
// rest comes first, with complete=false and a nil error, and the read error on the next call.
func (lr *lineReader) next() (line []byte, complete bool, err error) {
	if lr.head == lr.tail && len(lr.buf) > initClientLine {
		lr.buf = make([]byte, initClientLine)
		lr.head, lr.tail = 0, 0
	}
	for {
		unread := lr.buf[lr.head:lr.tail]
		if i := bytes.IndexByte(unread, '\n'); i >= 0 {
			lr.head += i + 1
			return unread[:i+1], true, nil
		}
		if len(unread) >= lr.max || (lr.err != nil && len(unread) > 0) {
			lr.head = lr.tail
			return unread, false, nil
		}
		if lr.err != nil {
			return nil, false, lr.err
		}
		if lr.head > 0 {
			lr.tail = copy(lr.buf, unread)
			lr.head = 0
		}
		if lr.tail == len(lr.buf) {
			grown := make([]byte, min(2*len(lr.buf), lr.max))
			copy(grown, lr.buf[:lr.tail])
			lr.buf = grown
		}
		n, err := lr.r.Read(lr.buf[lr.tail:])
		lr.tail += n
		if lr.quiet && isTimeout(err) {
			return nil, false, err
		}
		lr.err = err
	}
}

// discard drops the buffered bytes and returns how many there were.
func (lr *lineReader) discard() int {
	n := lr.tail - lr.head
	lr.head, lr.tail = 0, 0
	return n
}
