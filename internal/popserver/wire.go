package popserver

import (
	"bytes"

	"github.com/popwire/popwire/internal/pop3wire"
)

// stored is a message prepared for the wire once, so that RETR and TOP write it with large
// writes instead of stuffing line by line.
type stored struct {
	uid  string
	data []byte // the message with CRLF line endings; its length is the RFC 1939 §11 size
	wire []byte // data dot-stuffed (RFC 1939 §3), ending in CRLF unless empty; shares data when equal
}

// newStored normalises raw (bare LF becomes CRLF; a CR not followed by LF stays data) and
// precomputes its stuffed form. raw is not retained.
func newStored(uid string, raw []byte) *stored {
	data := normalize(raw)
	return &stored{uid: uid, data: data, wire: pop3wire.Stuff(data)}
}

// normalize returns a copy of raw in which every LF not preceded by CR is preceded by one.
func normalize(raw []byte) []byte {
	bare := 0
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			bare++
		}
	}
	out := make([]byte, 0, len(raw)+bare)
	for i, c := range raw {
		if c == '\n' && (i == 0 || raw[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// top returns the prefix of the stuffed message that TOP msg n sends (RFC 1939 §7): the header,
// the blank line that ends it and the first n body lines; the whole message when it has fewer
// lines or no blank line. The result shares wire.
func top(wire []byte, n int) []byte {
	var end int
	switch {
	case bytes.HasPrefix(wire, []byte("\r\n")):
		end = 2
	default:
		i := bytes.Index(wire, []byte("\r\n\r\n"))
		if i < 0 {
			return wire
		}
		end = i + 4
	}
	for ; n > 0; n-- {
		i := bytes.IndexByte(wire[end:], '\n')
		if i < 0 {
			return wire
		}
		end += i + 1
	}
	return wire[:end]
}
