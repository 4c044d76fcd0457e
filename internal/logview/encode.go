package logview

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// errBadExtra reports an Event.Extra that is not one JSON value.
var errBadExtra = errors.New("logview: event extra is not valid JSON")

// MarshalJSON encodes e as one JSON object without a trailing newline, exactly as the JSON
// lines writer does: fields in declaration order, zero values omitted except v, time and kind,
// the time in UTC as TimeFormat. Strings are escaped as encoding/json does without HTML
// escaping; invalid UTF-8 becomes U+FFFD.
func (e Event) MarshalJSON() ([]byte, error) {
	return appendEvent(make([]byte, 0, 256), &e, nil)
}

// appendEvent appends the JSON object for e to dst. It uses no reflection: on the logging hot
// path this is several times faster than encoding/json and allocates nothing when dst has room.
// A JSON output passes lc, which charges the encoding of a held message content for as long as
// the output holds the line (see lineCharge); nil charges nothing and lets go of nothing.
func appendEvent(dst []byte, e *Event, lc *lineCharge) ([]byte, error) {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(e.V), 10)
	dst = append(dst, `,"time":"`...)
	dst = e.Time.UTC().AppendFormat(dst, TimeFormat)
	dst = append(dst, '"')
	dst = appendStrField(dst, "session", e.Session)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, string(e.Kind))
	dst = appendStrField(dst, "dir", string(e.Dir))
	dst = appendStrField(dst, "user", e.User)
	dst = appendStrField(dst, "client", e.Client)
	dst = appendStrField(dst, "via", e.Via)
	dst = appendStrField(dst, "listener", e.Listener)
	dst = appendStrField(dst, "upstream", e.Upstream)
	dst = appendStrField(dst, "local", e.Local)
	dst = appendStrField(dst, "leg", string(e.Leg))
	dst = appendStrField(dst, "client_sec", e.ClientSec)
	dst = appendStrField(dst, "upstream_sec", e.UpstreamSec)
	dst = appendStrField(dst, "verb", e.Verb)
	dst = appendStrField(dst, "answers", e.Answers)
	dst = appendStrField(dst, "status", e.Status)
	dst = appendStrField(dst, "code", e.Code)
	dst = appendStrField(dst, "text", e.Text)
	dst = appendTrueField(dst, "redacted", e.Redacted)
	dst = appendTrueField(dst, "revealed", e.Revealed)
	dst = appendStrField(dst, "mech", e.Mech)
	dst = appendIntField(dst, "step", int64(e.Step))
	dst = appendIntField(dst, "lines", e.Lines)
	dst = appendIntField(dst, "bytes", e.Bytes)
	dst = appendStrField(dst, "action", e.Action)
	dst = appendStrField(dst, "error", e.Err)
	dst = appendStrField(dst, "output", e.Output)
	dst = appendIntField(dst, "dropped", e.Dropped)
	if e.TLS != nil {
		dst = appendTLS(append(dst, `,"tls":`...), e.TLS)
	}
	if e.Message != nil {
		dst = appendMessage(append(dst, `,"message":`...), e.Message, lc)
	}
	if e.Listing != nil {
		dst = appendListing(append(dst, `,"listing":`...), e.Listing)
	}
	dst = appendIntField(dst, "msg", int64(e.Msg))
	dst = appendStrField(dst, "uid", e.UID)
	if e.Summary != nil {
		dst = appendSummary(append(dst, `,"summary":`...), e.Summary)
	}
	if e.Finding != nil {
		dst = appendFinding(append(dst, `,"finding":`...), e.Finding)
	}
	if len(e.Extra) > 0 {
		if !json.Valid(e.Extra) {
			return dst, errBadExtra
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, e.Extra); err != nil {
			return dst, errBadExtra
		}
		dst = append(dst, `,"extra":`...)
		dst = append(dst, buf.Bytes()...)
	}
	return append(dst, '}'), nil
}

func appendTLS(dst []byte, t *TLSInfo) []byte {
	dst = append(dst, `{"version":`...)
	dst = appendString(dst, t.Version)
	dst = append(dst, `,"cipher":`...)
	dst = appendString(dst, t.Cipher)
	dst = appendStrField(dst, "sni", t.SNI)
	dst = appendStrField(dst, "peer_subject", t.PeerSubject)
	dst = appendStrsField(dst, "peer_names", t.PeerNames)
	dst = append(dst, `,"verified":`...)
	dst = strconv.AppendBool(dst, t.Verified)
	dst = appendStrField(dst, "verify_error", t.VerifyErr)
	return append(dst, '}')
}

func appendMessage(dst []byte, m *MessageInfo, lc *lineCharge) []byte {
	dst = append(dst, `{"msg":`...)
	dst = strconv.AppendInt(dst, int64(m.Msg), 10)
	dst = appendStrField(dst, "uid", m.UID)
	dst = append(dst, `,"octets":`...)
	dst = strconv.AppendInt(dst, m.Octets, 10)
	dst = appendStrField(dst, "sha256", m.SHA256)
	dst = appendStrField(dst, "from", m.From)
	dst = appendStrField(dst, "to", m.To)
	dst = appendStrField(dst, "cc", m.Cc)
	dst = appendStrField(dst, "subject", m.Subject)
	dst = appendStrField(dst, "date", m.Date)
	dst = appendStrField(dst, "message_id", m.MessageID)
	dst = appendTrueField(dst, "top", m.Top)
	omitted := m.ContentOmitted
	if m.Content.Len() > 0 {
		mark := len(dst)
		var ok bool
		if dst, ok = appendContent(appendKey(dst, "content"), m.Content, lc); !ok {
			dst, omitted = dst[:mark], true
		}
	}
	dst = appendTrueField(dst, "content_truncated", m.ContentTruncated)
	dst = appendTrueField(dst, "content_omitted", omitted)
	dst = appendTrueField(dst, "header_truncated", m.HeaderTruncated)
	dst = appendTrueField(dst, "header_malformed", m.HeaderMalformed)
	return append(dst, '}')
}

func appendListing(dst []byte, l *Listing) []byte {
	dst = append(dst, `{"lines":[`...)
	for i, line := range l.Lines {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, line)
	}
	dst = append(dst, ']')
	dst = appendIntField(dst, "omitted_lines", l.OmittedLines)
	dst = appendIntField(dst, "omitted_bytes", l.OmittedBytes)
	return append(dst, '}')
}

func appendSummary(dst []byte, s *Summary) []byte {
	dst = append(dst, `{"duration":`...)
	dst = appendString(dst, s.Duration)
	dst = append(dst, `,"commands":`...)
	dst = strconv.AppendInt(dst, int64(s.Commands), 10)
	dst = append(dst, `,"bytes_up":`...)
	dst = strconv.AppendInt(dst, s.BytesUp, 10)
	dst = append(dst, `,"bytes_down":`...)
	dst = strconv.AppendInt(dst, s.BytesDown, 10)
	dst = appendStrsField(dst, "retrieved", s.Retrieved)
	dst = appendStrsField(dst, "deleted", s.Deleted)
	dst = append(dst, `,"quit_sent":`...)
	dst = strconv.AppendBool(dst, s.QuitSent)
	dst = append(dst, `,"committed":`...)
	dst = strconv.AppendBool(dst, s.Committed)
	dst = appendStrField(dst, "reason", s.Reason)
	return append(dst, '}')
}

// appendKey appends `,"name":`; name is a plain ASCII field name needing no escapes.
func appendKey(dst []byte, name string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

func appendStrField(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	return appendString(appendKey(dst, name), v)
}

func appendIntField(dst []byte, name string, v int64) []byte {
	if v == 0 {
		return dst
	}
	return strconv.AppendInt(appendKey(dst, name), v, 10)
}

func appendTrueField(dst []byte, name string, v bool) []byte {
	if !v {
		return dst
	}
	return append(appendKey(dst, name), "true"...)
}

func appendStrsField(dst []byte, name string, vs []string) []byte {
	if len(vs) == 0 {
		return dst
	}
	dst = append(appendKey(dst, name), '[')
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, v)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping exactly as encoding/json does with HTML
// escaping off: quotes, backslashes and control characters are escaped, invalid UTF-8 becomes
// \ufffd, and U+2028 and U+2029 are escaped so a line is safe in JavaScript too.
func appendString(dst []byte, s string) []byte {
	dst = append(growFor(dst, len(s)), '"')
	dst, _ = appendEscaped(dst, s, true)
	return append(dst, '"')
}

// growFor returns dst with room for the JSON string of n bytes of mail-like text (a message's
// content under --bodies full): n and an escape per 16 bytes, so that dst grows at most once
// and a large string is not copied into ever larger buffers. Like append, it at least doubles
// dst, so that a line buffer that grows by short fields grows a few times, not for each field.
func growFor(dst []byte, n int) []byte {
	if need := len(dst) + n + n/16 + 2; need > cap(dst) {
		// Not slices.Grow: built with -race, it allocates its temporary as well.
		dst = append(make([]byte, 0, max(need, 2*cap(dst))), dst...)
	}
	return dst
}

// appendContent appends c as one JSON string, exactly as appendString does the parts joined,
// escaping straight from the parts. With lc, the encoding of a held content is charged to its
// owner part by part, and once the caller's reference is the only one each part is let go of
// as soon as it is encoded, so that the content and its encoding are not both held whole. It
// reports false when the owner refuses a charge: the caller then leaves the content out.
func appendContent(dst []byte, c Content, lc *lineCharge) ([]byte, bool) {
	dst = append(growFor(dst, c.Len()), '"')
	charged := lc != nil && c.hold != nil
	kept := 0                       // parts before kept are let go of
	var carry [2 * utf8.UTFMax]byte // an incomplete UTF-8 sequence that ended the parts so far, and what follows it
	nc := 0
	for i, p := range c.parts {
		before := len(dst)
		if nc > 0 {
			k := copy(carry[nc:], p)
			var used int
			dst, used = appendEscaped(dst, string(carry[:nc+k]), false)
			if used < nc { // p is too short to complete the sequence
				nc = copy(carry[:], carry[used:nc+k])
				p = ""
			} else {
				p, nc = p[used-nc:], 0
			}
		}
		var used int
		dst, used = appendEscaped(dst, p, false)
		nc += copy(carry[nc:], p[used:])
		if charged {
			if !lc.charge(c.hold.owner, int64(len(dst)-before)) {
				return dst, false
			}
			// The recorder that emitted the event may still hold it when an output starts on
			// it; it lets go right after, and from then on the parts go as they are encoded.
			for ; kept <= i && c.sole(); kept++ {
				c.drop(kept)
			}
		}
	}
	dst, _ = appendEscaped(dst, string(carry[:nc]), true)
	return append(dst, '"'), true
}

// lineCharge is what a JSON output charged for the content it encoded into a line it holds
// (see appendContent); release returns it once the output has let go of the line.
type lineCharge struct {
	owner ContentOwner
	n     int64
}

// charge charges n more bytes to owner, and reports false, charging nothing, when it refuses.
func (lc *lineCharge) charge(owner ContentOwner, n int64) bool {
	if !owner.Charge(n) {
		return false
	}
	lc.owner = owner
	lc.n += n
	return true
}

// release returns what lc charged.
func (lc *lineCharge) release() {
	if lc.n > 0 {
		lc.owner.Uncharge(lc.n)
	}
	*lc = lineCharge{}
}

// appendEscaped appends s escaped as in a JSON string, without quotes, and returns dst and the
// bytes of s it encoded: all of them, unless final is false and s ends in an incomplete UTF-8
// sequence, which is left for the caller to complete (encoded alone it would become \ufffd).
// Runs of 8 bytes that need no escape are skipped a word at a time.
func appendEscaped(dst []byte, s string, final bool) ([]byte, int) {
	start := 0
	for i := 0; i < len(s); {
		i += plainWords(s[i:])
		if i == len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		if !final && !utf8.FullRuneInString(s[i:]) {
			return append(dst, s[start:i]...), i
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...), len(s)
}

// Bytes of a little-endian word repeated in every byte, for plainWords.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainWords returns how many bytes at the start of s, in whole 8-byte words, need none of
// appendString's attention: no control character, quote, backslash or byte of a multi-byte
// UTF-8 sequence. It tests 8 bytes at once (a byte is zero exactly when x-ones borrows into its
// high bit and x had it clear).
func plainWords(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		quote, backslash := x^(ones*'"'), x^(ones*'\\')
		low := (x - ones*0x20) &^ x           // bytes below 0x20 (or ≥ 0x80, caught below)
		q := (quote - ones) &^ quote          // zero bytes of quote: '"'
		bs := (backslash - ones) &^ backslash // … of backslash: '\\'
		if (x|low|q|bs)&highs != 0 {
			break
		}
	}
	return i
}
