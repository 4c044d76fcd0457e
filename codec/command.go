package codec

import (
	"bytes"
	"fmt"
	"strings"
)

// Command is one parsed client command line (RFC 1939 §3, RFC 2449 §3). The zero value is no
// command.
type Command struct {
	Verb string // keyword in upper case ("RETR"); known verbs are interned (no allocation)
	Arg  string // everything after the keyword and its separator, blanks trimmed at both ends; "" when none
}

// HasArg reports whether the command has an argument after trimming blanks (RFC 1939 §3; "LIST ␍␊" has none).
func (c Command) HasArg() bool { return c.Arg != "" }

// String returns the command as a line without its line ending: the verb, then a space and
// the argument when there is one; a command without verb (a sanitised unrecognised line) is
// its argument alone. ParseCommand of the result of a parsed command gives it back.
func (c Command) String() string {
	switch {
	case c.Arg == "":
		return c.Verb
	case c.Verb == "":
		return c.Arg
	}
	return c.Verb + " " + c.Arg
}

// ParseCommand parses one client line, with or without its line ending (LF or CRLF), and is the
// one tokenizer that decides what a client line's verb is. The keyword is matched
// case-insensitively and must be one or more ASCII letters or digits (RFC 1939 §3 says 3–4
// printable characters; longer private ones exist, and no other byte is part of any
// keyword); it ends at the first SP or TAB (RFC 1734 §3 allows TAB after AUTH). A line that is
// empty, starts with a blank, has any other byte in its keyword, or holds a NUL, a CR that is
// not part of its line ending or an LF before its end is an error wrapping ErrSyntax: a server
// that trims blanks, splits lines at a bare CR or drops NULs could read such a line as another
// command. The line is not retained.
func ParseCommand(line []byte) (Command, error) {
	c, why := parseCommand(line)
	if why != "" {
		return Command{}, fmt.Errorf("codec: command: %w: %s", ErrSyntax, why)
	}
	return c, nil
}

// The reasons parseCommand gives. They never quote the line: it may be a secret sent as a
// command.
const (
	whyLF      = "line feed inside the line"
	whyBadByte = "NUL or bare CR in the line"
	whyEmpty   = "empty line"
	whyBlank   = "blank before the keyword"
	whyJunk    = "keyword holds a control or 8-bit byte"
	whyKeyword = "keyword holds a byte other than a letter or digit"
)

// parseCommand is ParseCommand, saying why in words when the line is not a command line.
func parseCommand(line []byte) (Command, string) {
	line, ok := content(line)
	switch {
	case !ok:
		return Command{}, whyLF
	case hasBadByte(line):
		return Command{}, whyBadByte
	case len(line) == 0:
		return Command{}, whyEmpty
	case isBlank(line[0]):
		return Command{}, whyBlank
	}
	kw, rest := splitKeyword(line)
	if junkKeyword(kw) {
		return Command{}, whyJunk
	}
	for _, c := range kw {
		if !isAlnum(c) {
			return Command{}, whyKeyword
		}
	}
	return Command{Verb: verbOf(kw), Arg: string(trimBlanks(rest))}, ""
}

// hasBadByte reports whether b, a line's content without its line ending, holds a NUL or a CR.
func hasBadByte(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || bytes.IndexByte(b, '\r') >= 0
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	c = upper(c)
	return 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// content strips one line ending (LF or CRLF) from line and reports whether no other LF is left.
func content(line []byte) ([]byte, bool) {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n > 1 && line[n-2] == '\r' {
			line = line[:n-2]
		}
	}
	return line, bytes.IndexByte(line, '\n') < 0
}

// splitKeyword splits line at its first blank into the keyword and the rest after that blank.
func splitKeyword(line []byte) (kw, rest []byte) {
	for i, c := range line {
		if c == ' ' || c == '\t' {
			return line[:i], line[i+1:]
		}
	}
	return line, nil
}

// isBlank reports whether c is SP or TAB.
func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// trimBlanks trims SP and TAB at both ends of b.
func trimBlanks(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// verbOf returns the keyword in upper case, interned when it is a verb the codec knows.
func verbOf(kw []byte) string {
	if len(kw) <= 4 {
		var up [4]byte
		for i, c := range kw {
			up[i] = upper(c)
		}
		if v, ok := knownVerbs[string(up[:len(kw)])]; ok {
			return v
		}
	}
	return strings.ToUpper(string(kw))
}

// upper maps an ASCII lower-case letter to upper case and leaves every other byte alone.
func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// knownVerbs interns the verbs of RFC 1939, 2449, 2595, 5034 and 6856, plus LAST, RPOP and XTND
// that real clients still send. Any other keyword in AUTHORIZATION is treated as secret.
var knownVerbs = map[string]string{
	"USER": "USER", "PASS": "PASS", "APOP": "APOP", "AUTH": "AUTH", "STLS": "STLS",
	"CAPA": "CAPA", "STAT": "STAT", "LIST": "LIST", "RETR": "RETR", "DELE": "DELE",
	"NOOP": "NOOP", "RSET": "RSET", "TOP": "TOP", "UIDL": "UIDL", "QUIT": "QUIT",
	"UTF8": "UTF8", "LANG": "LANG", "LAST": "LAST", "RPOP": "RPOP", "XTND": "XTND",
}

// isKnownVerb reports whether v is one of the interned verbs.
func isKnownVerb(v string) bool {
	_, ok := knownVerbs[v]
	return ok
}
