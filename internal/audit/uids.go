package audit

// MaxUIDs is how many message numbers a UIDs remembers. A server may list any number of
// messages; once MaxUIDs numbers are known, lines for further numbers are ignored (known numbers
// are still updated), which bounds a session's memory at a few MiB.
const MaxUIDs = 100_000

// MaxUIDLen is the longest UID a UIDs accepts, in bytes. RFC 1939 §7 allows 1 to 70 characters;
// the margin admits non-conformant servers while keeping memory bounded.
const MaxUIDLen = 255

// UIDs maps message numbers to the unique-ids learned from UIDL replies (RFC 1939 §7). The zero
// value is empty and allocates nothing until a line is learned. A UIDs is not safe for
// concurrent use.
type UIDs struct {
	m map[int]string
}

// Learn records the "msg uid" pair in line, which is a line of a multi-line UIDL reply or the
// text after "+OK " of a single-line one, with or without its line ending. Runs of spaces or
// tabs around the fields are accepted (thunderbird-android #323 met a server sending three
// spaces). Anything else is ignored: a message number that is not a positive decimal, a missing
// UID, a UID with characters outside 0x21–0x7E or longer than MaxUIDLen, or a third field.
func (u *UIDs) Learn(line []byte) {
	line = trimBlank(line)
	i := 0
	n := 0
	for ; i < len(line) && line[i] >= '0' && line[i] <= '9'; i++ {
		if n > (1<<31-1)/10 {
			return // far beyond any mailbox; also keeps n from overflowing
		}
		n = n*10 + int(line[i]-'0')
	}
	if i == 0 || n == 0 {
		return
	}
	rest := line[i:]
	uid := trimBlank(rest)
	if len(uid) == len(rest) || len(uid) == 0 || len(uid) > MaxUIDLen {
		return // no blank between the fields, no UID, or an oversized one
	}
	for _, c := range uid {
		if c < 0x21 || c > 0x7e {
			return
		}
	}
	if _, known := u.m[n]; !known && len(u.m) >= MaxUIDs {
		return
	}
	if old, known := u.m[n]; known && old == string(uid) {
		return
	}
	if u.m == nil {
		u.m = make(map[int]string)
	}
	u.m[n] = string(uid)
}

// Get returns the UID of message n, or "" when no UIDL reply named it.
func (u *UIDs) Get(n int) string {
	return u.m[n]
}

// trimBlank strips spaces, tabs, CR and LF from both ends of b.
func trimBlank(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}
