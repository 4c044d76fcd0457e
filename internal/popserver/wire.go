package popserver

import "bytes"

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
	return &stored{uid: uid, data: data, wire: stuff(data)}
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

// stuff returns data with one '.' prepended to every line that begins with '.' (RFC 1939 §3)
// and a final CRLF appended when data is not empty and lacks one, so that the terminating
// ".\r\n" always starts a line (as Dovecot does). It returns data itself when nothing changes.
func stuff(data []byte) []byte {
	dots := 0
	for i := 0; i < len(data); i++ {
		if data[i] == '.' && (i == 0 || data[i-1] == '\n') {
			dots++
		}
	}
	open := len(data) > 0 && !bytes.HasSuffix(data, []byte("\r\n"))
	if dots == 0 && !open {
		return data
	}
	out := make([]byte, 0, len(data)+dots+2)
	for i := 0; i < len(data); i++ {
		if data[i] == '.' && (i == 0 || data[i-1] == '\n') {
			out = append(out, '.')
		}
		out = append(out, data[i])
	}
	if open {
		out = append(out, '\r', '\n')
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
