package codec

import (
	"errors"
	"fmt"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("codec: syntax error")

// Status is the first token of a server line. The zero value is no status.
type Status uint8

// The three statuses of a server line.
const (
	StatusOK       Status = iota + 1 // "+OK"
	StatusErr                        // "-ERR"
	StatusContinue                   // "+ " or bare "+": SASL continuation (RFC 5034 §4)
)

// String returns the status as it appears on the wire: "+OK", "-ERR" or "+".
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "+OK"
	case StatusErr:
		return "-ERR"
	case StatusContinue:
		return "+"
	}
	return ""
}

// Reply is one parsed server status line. The zero value is no reply.
type Reply struct {
	Status    Status
	Code      string // RFC 2449 §8 response code without brackets ("SYS/TEMP"), "" when none
	Text      string // text after the status and code, "" when none
	Timestamp string // APOP timestamp "<…>" (RFC 1939 §7) when the text of a +OK holds one, else ""
}

// String returns the reply as a line without its line ending. ParseReply of the result gives r
// back.
func (r Reply) String() string {
	s := r.Status.String()
	if r.Status == StatusContinue {
		return s + " " + r.Text
	}
	if r.Code != "" {
		s += " [" + r.Code + "]"
	}
	if r.Text != "" {
		s += " " + r.Text
	}
	return s
}

// ParseReply parses one server status line, with or without its line ending (LF or CRLF; a CR
// not followed by LF is data).
//
// "+OK" and "-ERR" are matched case-insensitively (RFC 1939 §3 says servers send them in upper
// case; the Tracker reports lower case as an anomaly) and must be followed by SP, TAB or the end
// of the line; the text is everything after that one separator. A text starting with
// "[CODE]" carries a response code (RFC 2449 §8; any code is kept, hierarchical or unknown);
// one blank after the "]" is dropped. "+" followed by the end of the line or SP is a SASL
// continuation (RFC 5034 §4) whose Text is the base64 challenge. The APOP timestamp is the
// first "<…>" in the text of a +OK that holds no blank (RFC 1939 §7: it may appear anywhere in
// the greeting). Anything else is an error wrapping ErrSyntax. The line is not retained.
func ParseReply(line []byte) (Reply, error) {
	line, ok := content(line)
	if !ok {
		return Reply{}, fmt.Errorf("codec: reply: %w: line feed inside the line", ErrSyntax)
	}
	st, n := statusOf(line)
	if st == 0 {
		return Reply{}, fmt.Errorf("codec: reply: %w: no +OK, -ERR or + status", ErrSyntax)
	}
	rest := line[n:]
	if len(rest) > 0 {
		rest = rest[1:] // the one separator statusOf checked
	}
	r := Reply{Status: st}
	if len(rest) == 0 {
		return r, nil
	}
	text := string(rest)
	if st == StatusContinue {
		r.Text = text
		return r, nil
	}
	if code, after, ok := cutCode(text); ok {
		r.Code, text = code, after
	}
	r.Text = text
	if st == StatusOK {
		r.Timestamp = timestampOf(text)
	}
	return r, nil
}

// statusOf returns the status that starts line and its length, or 0 when line does not start
// with a status followed by a separator or the end of the line.
func statusOf(line []byte) (Status, int) {
	switch {
	case hasWord(line, "+OK"):
		return StatusOK, 3
	case hasWord(line, "-ERR"):
		return StatusErr, 4
	case len(line) == 1 && line[0] == '+', len(line) > 1 && line[0] == '+' && line[1] == ' ':
		return StatusContinue, 1
	}
	return 0, 0
}

// hasWord reports whether line starts with word (case-insensitively) followed by SP, TAB or the
// end of the line.
func hasWord(line []byte, word string) bool {
	if len(line) < len(word) {
		return false
	}
	for i := 0; i < len(word); i++ {
		if upper(line[i]) != word[i] {
			return false
		}
	}
	return len(line) == len(word) || isBlank(line[len(word)])
}

// cutCode splits a leading "[CODE]" off text: it returns the code, the text after the "]" and
// one blank, and whether there was a non-empty code.
func cutCode(text string) (code, after string, ok bool) {
	if len(text) < 3 || text[0] != '[' {
		return "", text, false
	}
	end := 1
	for end < len(text) && text[end] != ']' {
		end++
	}
	if end == len(text) || end == 1 {
		return "", text, false
	}
	after = text[end+1:]
	if after != "" && isBlank(after[0]) {
		after = after[1:]
	}
	return text[1:end], after, true
}

// timestampOf returns the first "<…>" in text that holds no blank and no other "<", or "".
func timestampOf(text string) string {
	for i := 0; i < len(text); i++ {
		if text[i] != '<' {
			continue
		}
		for j := i + 1; j < len(text); j++ {
			c := text[j]
			if c == '>' {
				if j > i+1 {
					return text[i : j+1]
				}
				break
			}
			if c == '<' || isBlank(c) {
				break
			}
		}
	}
	return ""
}

// isLowerStatus reports whether a "+OK" or "-ERR" status line spells its status with a
// lower-case letter.
func isLowerStatus(line []byte) bool {
	for i := 1; i < len(line) && i < 4; i++ {
		if c := line[i]; 'a' <= c && c <= 'z' {
			return true
		}
		if isBlank(line[i]) {
			break
		}
	}
	return false
}
