package proxy

import (
	"strings"
	"unicode/utf8"

	"github.com/popwire/popwire/internal/logview"
)

// maxListingLines and maxListingBytes bound the lines of one reply that a body event lists
// (logview.Listing), and so what a session holds for the reply being read.
const (
	maxListingLines = 200
	maxListingBytes = 16 << 10
)

// listing collects the lines of one multi-line reply for its body event: a prefix of at most
// maxListingLines lines and maxListingBytes bytes, and the counts of the rest. The zero value
// is empty.
type listing struct {
	buf          []byte // the kept lines, each followed by '\n'; a line cut short ends in "…"
	lines        int    // lines in buf
	kept         int    // bytes of the lines in buf, without the '\n' and "…" added
	full         bool   // a cap was reached: later lines are only counted
	omittedLines int64
	omittedBytes int64
}

// add appends a line of n bytes, of which line holds the first (all of them unless cut).
func (l *listing) add(line []byte, n int, cut bool) {
	room := maxListingBytes - l.kept
	if l.full || l.lines == maxListingLines || room == 0 {
		l.full = true
		l.omittedLines++
		l.omittedBytes += int64(n)
		return
	}
	if len(line) > room {
		for room > 0 && !utf8.RuneStart(line[room]) {
			room--
		}
		line, cut, l.full = line[:room], true, true
	}
	l.buf = append(l.buf, line...)
	if cut {
		l.buf = append(l.buf, "…"...)
	}
	l.buf = append(l.buf, '\n')
	l.lines++
	l.kept += len(line)
	l.omittedBytes += int64(n - len(line))
}

// take returns what was collected, scrubbed, and empties l; nil when the reply had no lines.
func (l *listing) take(scrub func(string) string) *logview.Listing {
	defer l.reset()
	if l.lines == 0 && l.omittedLines == 0 {
		return nil
	}
	out := &logview.Listing{Lines: []string{}, OmittedLines: l.omittedLines, OmittedBytes: l.omittedBytes}
	if l.lines > 0 {
		// One scrub over all the lines: a secret never holds the '\n' between two of them,
		// and a name hidden by word is bounded by it as by a blank.
		out.Lines = strings.Split(scrub(string(l.buf[:len(l.buf)-1])), "\n")
	}
	return out
}

// listingKeep is the largest buffer a listing keeps for the next reply; a larger one, left by
// a long LIST or UIDL, is let go so that an idle session holds little.
const listingKeep = 1 << 10

// reset empties l for the next reply.
func (l *listing) reset() {
	buf := l.buf[:0]
	if cap(buf) > listingKeep {
		buf = nil
	}
	*l = listing{buf: buf}
}
