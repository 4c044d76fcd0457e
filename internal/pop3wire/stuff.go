// Package pop3wire is the one dot-stuffer of this module (RFC 1939 §3): the embedded server
// (internal/popserver) sends message content through it, and the benchmark harness computes
// with it the bytes that server must send. It is independent of the codec, so that a test that
// sends its output through popwire checks the codec's un-stuffing against a separate reading.
package pop3wire

import "bytes"

// Stuff returns data, content with CRLF line endings, as it goes on the wire before the
// terminating ".\r\n": one '.' prepended to every line that begins with '.', and a final CRLF
// appended when data is not empty and lacks one, so that the terminator always starts a line
// (as Dovecot does). It returns data itself when nothing changes, else a new slice; data is
// never modified.
func Stuff(data []byte) []byte {
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
