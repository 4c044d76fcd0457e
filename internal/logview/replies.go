package logview

import (
	"fmt"
	"strings"
)

// Level says how much of each multi-line reply the transcript shows, as --transcript names it.
type Level string

// The transcript levels.
const (
	// LevelSummary shows one line per multi-line reply: its command, lines and size.
	LevelSummary Level = "summary"
	// LevelReplies adds the listings a body event holds: CAPA, AUTH and LANG whole, the first
	// previewLines lines of any other (LIST, UIDL, …) and how many more there are.
	LevelReplies Level = "replies"
	// LevelFull shows every line the log holds of every reply, and the message content of a
	// RETR or TOP logged with --bodies full.
	LevelFull Level = "full"
)

// ParseLevel parses a transcript level: "summary", "replies" or "full".
func ParseLevel(s string) (Level, error) {
	switch l := Level(s); l {
	case LevelSummary, LevelReplies, LevelFull:
		return l, nil
	}
	return "", fmt.Errorf("logview: transcript level must be summary, replies or full (got %q)", s)
}

// previewLines is how many lines of a LIST, UIDL or other long listing LevelReplies shows.
const previewLines = 5

// shownWhole reports whether LevelReplies shows all of a listing answering verb: the short
// ones that say what a server offers.
func shownWhole(verb string) bool {
	switch verb {
	case "CAPA", "AUTH", "LANG":
		return true
	}
	return false
}

// appendBodyDetail appends what follows the line of a body event: the audit of a RETR or TOP
// and, as the level asks, the reply's lines or the message's content. Each line has the
// prefix of the event, with a blank mark.
func (p *Printer) appendBodyDetail(dst []byte, e *Event) []byte {
	l := e.Listing
	if e.Message == nil && (l == nil || p.level == LevelSummary) {
		return dst
	}
	p.pre = p.appendPrefix(p.pre[:0], e, " ")
	if m := e.Message; m != nil {
		dst = append(dst, p.pre...)
		dst = p.appendAudit(dst, m)
		dst = append(dst, '\n')
		if p.level == LevelFull {
			dst = p.appendContent(dst, m)
		}
		return dst
	}
	shown := len(l.Lines)
	if p.level == LevelReplies && !shownWhole(e.Answers) {
		shown = min(shown, previewLines)
	}
	for _, line := range l.Lines[:shown] {
		dst = p.appendLine(dst, line)
	}
	if more := int64(len(l.Lines)-shown) + l.OmittedLines; more > 0 {
		dst = append(dst, p.pre...)
		dst = append(dst, p.p.faint.open...)
		dst = append(dst, "… "...)
		dst = appendGrouped(dst, more)
		dst = append(dst, " more"...)
		if shown == len(l.Lines) {
			dst = append(dst, " (not logged)"...)
		}
		dst = append(dst, p.p.faint.close...)
		dst = append(dst, '\n')
	}
	return dst
}

// appendLine appends one line of a reply or message under the event's prefix.
func (p *Printer) appendLine(dst []byte, line string) []byte {
	dst = append(dst, p.pre...)
	dst = p.p.faint.add(dst, "│ ")
	dst = p.appendText(dst, style{}, line)
	return append(dst, '\n')
}

// appendContent appends the lines of a message's content, and says when the log holds only
// part of it or none.
func (p *Printer) appendContent(dst []byte, m *MessageInfo) []byte {
	var begun []string // the pieces of a line that earlier parts began
	for _, part := range m.Content.Parts() {
		for part != "" {
			line, rest, found := strings.Cut(part, "\n")
			if !found {
				begun = append(begun, part)
				break
			}
			if len(begun) > 0 {
				line = strings.Join(append(begun, line), "")
				begun = begun[:0]
			}
			dst = p.appendLine(dst, strings.TrimSuffix(line, "\r"))
			part = rest
		}
	}
	if len(begun) > 0 {
		dst = p.appendLine(dst, strings.TrimSuffix(strings.Join(begun, ""), "\r"))
	}
	var note string
	switch {
	case m.ContentOmitted:
		note = "… content not logged: the memory kept for message content was in use"
	case m.ContentTruncated:
		note = "… the log holds only the first 16 MiB of the content"
	default:
		return dst
	}
	dst = append(dst, p.pre...)
	dst = p.p.faint.add(dst, note)
	return append(dst, '\n')
}
