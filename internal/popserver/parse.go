package popserver

import (
	"bytes"
	"strings"
)

// command is one client command line as this server reads it.
type command struct {
	verb string // the keyword in upper case
	arg  string // the rest of the line after the keyword's SP, leading SPs skipped; "" when none
}

// parseCommand reads one client line, its line ending already removed, as a strict server
// reads RFC 1939 §3 (keyword = 3*4VCHAR, RFC 2449 §3). The keyword runs up to the first SP and
// is matched case-insensitively. The argument is the rest of the line with the SPs before it
// skipped, as Dovecot skips them, and nothing else changed: a trailing blank stays, so a command
// that checks its argument refuses it. It reports false for a line that is not a command:
// empty, starting with SP, or with a keyword that is not 3 to 4 printable ASCII characters (a
// TAB, CR, control or 8-bit byte included). The parser is this server's own, not the codec's,
// so that a test with this server behind popwire checks the codec against an independent
// reading of every line.
func parseCommand(line []byte) (command, bool) {
	kw, arg, _ := bytes.Cut(line, []byte(" "))
	if len(kw) < 3 || len(kw) > 4 {
		return command{}, false
	}
	for _, c := range kw {
		if c < 0x21 || c > 0x7e {
			return command{}, false
		}
	}
	return command{verb: strings.ToUpper(string(kw)), arg: string(bytes.TrimLeft(arg, " "))}, true
}
