package main

import (
	"bytes"
	"crypto/sha256"

	"github.com/popwire/popwire/internal/pop3wire"
)

// terminator is the end of a multi-line reply, including the CRLF that ends the last data line
// (RFC 1939 §3). Dot-stuffing guarantees it never occurs inside the data.
var terminator = []byte("\r\n.\r\n")

// wireSum returns the SHA-256 of what a server sends after the "+OK" line of RETR for a
// message whose CRLF data is data: the stuffed data followed by ".\r\n".
func wireSum(data []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(pop3wire.Stuff(data))
	h.Write([]byte(".\r\n"))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// endScanner finds the end of a multi-line reply in a stream fed to it in chunks of any size.
// Its zero value is not ready: start from newEndScanner, because the CRLF of the status line
// counts towards the terminator of an empty reply.
type endScanner struct {
	tail []byte // the last (up to four) bytes seen, for a terminator split across chunks
}

// newEndScanner returns a scanner positioned just after a status line's CRLF.
func newEndScanner() *endScanner {
	return &endScanner{tail: []byte("\r\n")}
}

// scan looks for the terminator in p, which follows everything scanned before. It returns how
// many bytes of p belong to the reply (all of p, or up to and including the terminator) and
// whether the terminator was found. p is not retained.
func (s *endScanner) scan(p []byte) (int, bool) {
	head := append(s.tail[:len(s.tail):len(s.tail)], p[:min(len(p), len(terminator)-1)]...)
	if i := bytes.Index(head, terminator); i >= 0 {
		return i + len(terminator) - len(s.tail), true
	}
	if i := bytes.Index(p, terminator); i >= 0 {
		return i + len(terminator), true
	}
	keep := len(terminator) - 1
	if len(head) > keep {
		head = head[len(head)-keep:]
	}
	if len(p) >= keep {
		head = p[len(p)-keep:]
	}
	s.tail = append(s.tail[:0], head...)
	return len(p), false
}
