package audit

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// maxSkipped bounds how many malformed lines parseHeader steps over before it gives up on the
// rest of a header block, so that a block of junk lines costs little.
const maxSkipped = 64

// wordDecoder decodes RFC 2047 encoded words; go-message's charset package supplies the
// charsets beyond UTF-8, US-ASCII and ISO-8859-1 (ISO-2022-JP, Windows-1252, KOI8-R, …).
var wordDecoder = mime.WordDecoder{CharsetReader: charset.Reader}

// fields holds the header fields an audit reports, decoded.
type fields struct {
	from, to, cc, subject, date, messageID string
	malformed                              bool
}

// parseHeader reads the header fields of block, a header block with or without its final
// empty line, using go-message's textproto reader. A line that is not a header field marks the
// result malformed and is skipped; the fields around it still count.
func parseHeader(block []byte) fields {
	var f fields
	if len(block) == 0 {
		return f
	}
	var src io.Reader = bytes.NewReader(block)
	if block[len(block)-1] != '\n' {
		// The content ended without a line ending; end the last field so it is not lost.
		src = io.MultiReader(src, strings.NewReader("\r\n"))
	}
	br := bufio.NewReader(src)
	for skipped := 0; ; skipped++ {
		h, err := textproto.ReadHeader(br)
		f.collect(&h)
		if err == nil {
			return f
		}
		// ReadHeader consumed the bad line; carry on with the next one.
		f.malformed = true
		if skipped == maxSkipped {
			return f
		}
	}
}

// collect fills the fields f does not have yet from h.
func (f *fields) collect(h *textproto.Header) {
	take(&f.from, h, "From")
	take(&f.to, h, "To")
	take(&f.cc, h, "Cc")
	take(&f.subject, h, "Subject")
	take(&f.date, h, "Date")
	take(&f.messageID, h, "Message-Id")
}

// take sets *dst to the decoded first value of key in h, unless *dst is already set.
func take(dst *string, h *textproto.Header, key string) {
	if *dst != "" || !h.Has(key) {
		return
	}
	*dst = decode(h.Get(key))
}

// decode turns an unfolded field value into printable UTF-8: encoded words (RFC 2047 §6) are
// decoded, and a value whose words cannot be decoded (an unknown charset) is kept as it was.
func decode(v string) string {
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		v = d
	}
	return printable(v)
}

// printable replaces invalid UTF-8, control characters, line and paragraph separators and
// bidirectional controls with U+FFFD and tabs with spaces, so that a hostile header can neither
// drive a terminal nor disguise a log line. It returns v itself when nothing changes.
//
// printable is not termtext.Append, the sanitiser of the printers: it cleans a value where it
// is made, once, for the audit record that JSON readers, jq and the Printer consume later,
// while termtext.Append renders text when it is printed. A stored value must read as plain
// data: a control picture (␛) in a Subject would look as if the sender had typed it, so every
// unsafe character becomes U+FFFD, and separators that some log tools take as line breaks go
// too. The Printer still passes the value through termtext.Append when it shows it.
func printable(v string) string {
	clean := true
	for _, r := range v {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for _, r := range v {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case unsafeRune(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unsafeRune reports whether r must not reach a log as it is. Ranging over a string yields
// utf8.RuneError for each invalid byte.
func unsafeRune(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) ||
		unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
}
