// Package redact takes secrets and user names out of texts before they reach an output: the
// log, a probe report. What is secret in a client line is the codec's to say (codec.Auth names
// the secrets of each line it renders); a Scrubber remembers them, and the user names to hide,
// and replaces them wherever a later text holds them: a server that echoes its input, an error
// message, a message header.
//
// The package imports nothing of popwire, so that both codec (a public library that uses only
// the standard library) and logview (whose log format must not depend on the codec) can refer
// to its Marker.
package redact

import (
	"bytes"
	"strings"
)

// Marker is the fixed text that replaces a secret, in a log event, a probe report and the
// codec's safe rendering of a client line. It never depends on the length or content of the
// secret it replaces.
const Marker = "[redacted]"

// maxSecrets caps how many secrets a Scrubber remembers.
const maxSecrets = 16

// Scrubber remembers the secrets and the user names of one session and takes them out of
// texts. The zero value remembers nothing and hides names with an empty key. A Scrubber is not
// safe for concurrent use.
type Scrubber struct {
	Key []byte // HMAC key of the hashes that hidden names are shown as

	secrets []string  // at most maxSecrets, oldest first
	names   userNames // the names to hide
}

// AddSecret remembers secret (when not empty) for Scrub; once maxSecrets are known, the oldest
// is forgotten.
func (s *Scrubber) AddSecret(secret string) {
	if secret == "" {
		return
	}
	if len(s.secrets) == maxSecrets {
		s.secrets = append(s.secrets[:0], s.secrets[1:]...)
	}
	s.secrets = append(s.secrets, secret)
}

// AddName remembers name for hiding and returns what it is shown as: "user-" and 12 hex
// digits of its HMAC under Key, the same for the same name and key.
func (s *Scrubber) AddName(name string) string {
	return s.names.learn(s.Key, name)
}

// PinName keeps name, if AddName learnt it, from being forgotten when later names need room:
// the name a client logs in with stays hidden however many names it sends after it. At most
// maxNames names are remembered in all: once every one is pinned, the oldest goes first.
func (s *Scrubber) PinName(name string) { s.names.pin(name) }

// Scrub returns text with every remembered secret replaced by Marker and every remembered
// name hidden (see HideNames). Occurrences of secrets that overlap or touch are replaced by one
// Marker, so that no part of a secret shows when one lies inside another (a second password
// attempt that extends the first), two share an end, or one overlaps itself. Scrub returns
// text itself when neither a secret nor a name occurs in it.
func (s *Scrubber) Scrub(text string) string {
	if text == "" {
		return text
	}
	var covered []byte // covered[i] is 1 when text[i] belongs to a secret; made when one is found
	for _, sec := range s.secrets {
		if i := strings.Index(text, sec); i >= 0 {
			if covered == nil {
				covered = make([]byte, len(text))
			}
			cover(covered, text, sec, i)
		}
	}
	if covered != nil {
		text = replaceCovered(text, covered)
	}
	return s.HideNames(text)
}

// cover sets covered[i] to 1 for every byte text[i] of an occurrence of sec (not empty),
// overlapping occurrences included, from the first one, at first. It follows Knuth, Morris and
// Pratt, so it takes time linear in len(text) + len(sec) whatever the text, and it skips ahead
// with strings.Index between occurrences.
func cover(covered []byte, text, sec string, first int) {
	border := make([]int, len(sec)) // border[i]: the longest proper prefix of sec that ends sec[:i+1]
	for i, k := 1, 0; i < len(sec); i++ {
		for k > 0 && sec[i] != sec[k] {
			k = border[k-1]
		}
		if sec[i] == sec[k] {
			k++
		}
		border[i] = k
	}
	marked := first // covered[:marked] is final
	for i, k := first, 0; i < len(text); i++ {
		if k == 0 {
			next := strings.Index(text[i:], sec)
			if next < 0 {
				return
			}
			i += next
		}
		for k > 0 && text[i] != sec[k] {
			k = border[k-1]
		}
		if text[i] == sec[k] {
			k++
		}
		if k == len(sec) {
			for j := max(marked, i+1-len(sec)); j <= i; j++ {
				covered[j] = 1
			}
			marked = i + 1
			k = border[k-1]
		}
	}
}

// replaceCovered returns text with each run of covered bytes replaced by Marker.
func replaceCovered(text string, covered []byte) string {
	var b strings.Builder
	b.Grow(len(text))
	for len(text) > 0 {
		i := bytes.IndexByte(covered, 1)
		if i < 0 {
			i = len(text)
		}
		b.WriteString(text[:i])
		text, covered = text[i:], covered[i:]
		if len(text) == 0 {
			break
		}
		j := bytes.IndexByte(covered, 0)
		if j < 0 {
			j = len(text)
		}
		b.WriteString(Marker)
		text, covered = text[j:], covered[j:]
	}
	return b.String()
}

// HideNames returns text with every whole-token occurrence of a remembered name replaced by
// its hash, and its secrets left as they are: for a text whose secrets are already replaced
// (the codec's safe rendering) or are to be shown.
func (s *Scrubber) HideNames(text string) string {
	return s.names.hide(text)
}

// MayChange reports whether Scrub could change the text that parts make when joined: whether
// a remembered secret, or a remembered name in any ASCII case, occurs in it, within a part or
// across parts. When it reports false, Scrub would return the joined text unchanged, so that
// a text kept in parts (a message's content) need not be joined to be scrubbed.
func (s *Scrubber) MayChange(parts []string) bool {
	for _, sec := range s.secrets {
		if occursIn(parts, sec, strings.Index) {
			return true
		}
	}
	for _, n := range s.names.names {
		for _, f := range n.forms {
			if occursIn(parts, f, func(text, sub string) int { return indexFold(text, sub, 0) }) {
				return true
			}
		}
	}
	return false
}

// occursIn reports whether sub (not empty) occurs in the parts joined, as index finds it in a
// text. An occurrence that ends in a part and starts before it lies in the last len(sub)-1
// bytes before that part and its first len(sub)-1 bytes, which are searched apart.
func occursIn(parts []string, sub string, index func(text, sub string) int) bool {
	reach := len(sub) - 1
	var before []byte // the last bytes, at most reach of them, of the parts so far
	var window []byte
	for _, p := range parts {
		if len(p) >= len(sub) && index(p, sub) >= 0 {
			return true
		}
		if len(before) > 0 {
			window = append(append(window[:0], before...), p[:min(len(p), reach)]...)
			if index(string(window), sub) >= 0 {
				return true
			}
		}
		if len(p) >= reach {
			before = append(before[:0], p[len(p)-reach:]...)
		} else {
			before = append(before, p...)
			before = before[max(0, len(before)-reach):]
		}
	}
	return false
}
