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
	return appendEvent(make([]byte, 0, 256), &e)
}

// appendEvent appends the JSON object for e to dst. It uses no reflection: on the logging hot
// path this is several times faster than encoding/json and allocates nothing when dst has room.
func appendEvent(dst []byte, e *Event) ([]byte, error) {
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
		dst = appendMessage(append(dst, `,"message":`...), e.Message)
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

func appendMessage(dst []byte, m *MessageInfo) []byte {
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
	dst = appendStrField(dst, "content", m.Content)
	dst = appendTrueField(dst, "content_truncated", m.ContentTruncated)
	dst = appendTrueField(dst, "content_omitted", m.ContentOmitted)
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
//
// dst grows at most once for a string of mail-like text (a message's content under --bodies
// full): room for s and an escape per 16 bytes is made up front, so that a large string is
// not copied into ever larger buffers. Runs of 8 bytes that need no escape are skipped a word
// at a time.
func appendString(dst []byte, s string) []byte {
	if need := len(dst) + len(s) + len(s)/16 + 2; need > cap(dst) {
		// Not slices.Grow: built with -race, it allocates its temporary as well.
		dst = append(make([]byte, 0, need), dst...)
	}
	dst = append(dst, '"')
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
	dst = append(dst, s[start:]...)
	return append(dst, '"')
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
