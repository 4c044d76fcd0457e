package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNames caps how many user names a Scrubber remembers for hiding.
const maxNames = 16

// userNames hides the user names a session has seen (popwire's --hide-users). Each name is replaced by
// a keyed hash ("user-" and 12 hex digits, the same for the same name and key) wherever it
// stands as a whole token of a text, in any ASCII case: mail addresses, and often the names
// servers log users in with, ignore case.
//
// A whole token is not part of a longer word: the characters next to it are neither letters,
// digits nor "_", nor a "." or "-" that joins it to one. So "bob@example.org" is hidden in
// `"Bob" <BOB@example.org>,` and at the end of a sentence, but not in "xbob@example.org",
// "bob@example.org.uk" or "bob.smith@example.org", and a user "a" is hidden in "a is locked"
// and "a@example.org" but not in "maildrop" nor in the redaction marker.
//
// A name is also hidden in the escaped forms the codec shows it in: quoted as a Go string
// (authcid="CORP\\bob") and with the SASL escapes of RFC 5802 §5.1 (n=bob=2Cx).
type userNames struct {
	names []hiddenName // at most maxNames, oldest first
}

// hiddenName is one name to hide: the texts it is written as, and its hash. A pinned name is
// never forgotten to make room for another (see pin).
type hiddenName struct {
	name   string
	forms  []string
	hash   string
	pinned bool
}

// learn remembers name for hiding and returns its hash under key.
func (u *userNames) learn(key []byte, name string) string {
	for _, n := range u.names {
		if n.name == name {
			return n.hash
		}
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	n := hiddenName{name: name, hash: "user-" + hex.EncodeToString(m.Sum(nil)[:6])}
	sasl := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(name)
	for _, f := range []string{name, quoted(name), sasl, quoted(sasl)} {
		if f != "" && !containsFold(n.forms, f) {
			n.forms = append(n.forms, f)
		}
	}
	if len(u.names) == maxNames {
		u.forgetOldest()
	}
	u.names = append(u.names, n)
	return n.hash
}

// forgetOldest forgets the oldest name that is not pinned; with every name pinned, the oldest.
func (u *userNames) forgetOldest() {
	i := 0
	for i < len(u.names) && u.names[i].pinned {
		i++
	}
	if i == len(u.names) {
		i = 0
	}
	u.names = append(u.names[:i], u.names[i+1:]...)
}

// pin keeps name, once learnt, from being forgotten to make room for later names.
func (u *userNames) pin(name string) {
	for i := range u.names {
		if u.names[i].name == name {
			u.names[i].pinned = true
		}
	}
}

// quoted returns name as strconv.Quote writes it, without the quotes.
func quoted(name string) string {
	q := strconv.Quote(name)
	return q[1 : len(q)-1]
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

// hide returns s with every whole-token occurrence of a known name replaced by its hash. It
// returns s itself when there is none.
func (u *userNames) hide(s string) string {
	for _, n := range u.names {
		for _, f := range n.forms {
			s = replaceTokens(s, f, n.hash)
		}
	}
	return s
}

// replaceTokens replaces each whole-token occurrence of tok in s, in any ASCII case, by with.
func replaceTokens(s, tok, with string) string {
	var b strings.Builder
	done := 0 // s[:done] is decided
	for at := 0; ; {
		i := indexFold(s, tok, at)
		if i < 0 {
			break
		}
		j := i + len(tok)
		at = i + 1
		if joinedBefore(s, i) || joinedAfter(s, j) || inMarker(s, i, j) {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s) + len(with))
		}
		b.WriteString(s[done:i])
		b.WriteString(with)
		done, at = j, j
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// indexFold returns the index of the first occurrence of sub (not empty) in s at or after
// from, ignoring ASCII case, or -1. It looks for the first byte of sub in either case with
// strings.IndexByte, so that a message's content is searched quickly.
func indexFold(s, sub string, from int) int {
	end := len(s) - len(sub) + 1 // an occurrence starts before end
	lower, upper := lowerASCII(sub[0]), upperASCII(sub[0])
	nextLower, nextUpper := -1, -1 // next index of each at or after i; -1: to be found
	for i := from; i < end; {
		nextLower = nextIndex(s[:end], lower, i, nextLower)
		nextUpper = nextIndex(s[:end], upper, i, nextUpper)
		j := nextLower
		if j < 0 || (nextUpper >= 0 && nextUpper < j) {
			j = nextUpper
		}
		if j < 0 {
			return -1
		}
		if equalFoldASCII(s[j:j+len(sub)], sub) {
			return j
		}
		i = j + 1
	}
	return -1
}

// nextIndex returns the index of c in s at or after i, reusing known when it is still ahead,
// or -2 when there is none (which stays known).
func nextIndex(s string, c byte, i, known int) int {
	if known >= i || known == -2 {
		return known
	}
	k := strings.IndexByte(s[i:], c)
	if k < 0 {
		return -2
	}
	return i + k
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// equalFoldASCII reports whether a and b, of the same length, are equal ignoring ASCII case.
func equalFoldASCII(a, b string) bool {
	for i := range len(a) {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// wordRune reports whether r is part of a word: a letter, a digit or "_".
func wordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// joinerRune reports whether r joins two words into one token ("bob.smith", "x-bob").
func joinerRune(r rune) bool { return r == '.' || r == '-' }

// joinedBefore reports whether the text before s[i] continues a token that s[i:] starts.
func joinedBefore(s string, i int) bool {
	r, n := utf8.DecodeLastRuneInString(s[:i])
	if n == 0 {
		return false
	}
	if wordRune(r) {
		return true
	}
	prev, m := utf8.DecodeLastRuneInString(s[:i-n])
	return joinerRune(r) && m > 0 && wordRune(prev)
}

// joinedAfter reports whether the text from s[j] continues a token that ends there.
func joinedAfter(s string, j int) bool {
	r, n := utf8.DecodeRuneInString(s[j:])
	if n == 0 {
		return false
	}
	if wordRune(r) {
		return true
	}
	next, m := utf8.DecodeRuneInString(s[j+n:])
	return joinerRune(r) && m > 0 && wordRune(next)
}

// inMarker reports whether s[i:j] overlaps a redaction marker, which stays as it is.
func inMarker(s string, i, j int) bool {
	lo, hi := max(0, i-len(Marker)+1), min(len(s), j+len(Marker)-1)
	return strings.Contains(s[lo:hi], Marker)
}
