package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"runtime"
	"unsafe"
)

// MaxHeader is the most of a message's header block a Message keeps in memory, in bytes. A
// longer header block is cut here and Result.HeaderTruncated is set.
const MaxHeader = 64 << 10

// DefaultMaxBody is the body limit a Message applies when KeepBody is set and MaxBody is not
// positive: the most content one message keeps, 16 MiB.
const DefaultMaxBody = 16 << 20

// Message audits one RETR or TOP reply's content. The zero value is ready and allocates nothing
// until written; Reset makes it ready for the next message and keeps its header buffer and hash
// state for reuse. A Message is not safe for concurrent use.
type Message struct {
	// KeepBody makes Result carry the whole content (for --bodies full), up to the body limit.
	KeepBody bool
	// MaxBody is the body limit in bytes when KeepBody is set; 0 or less means DefaultMaxBody.
	MaxBody int64
	// Budget, when set, is charged for the content kept, shared with other Messages; content
	// that would pass it is left out (Result.BodyOmitted). nil: only the body limit applies.
	Budget *Budget

	hash        hash.Hash
	octets      int64
	header      []byte          // the header block, or what has been seen of it; reused across Reset
	headerDone  bool            // the header block ended (blank line seen) or hit MaxHeader
	truncated   bool            // the header block hit MaxHeader before its end
	body        []byte          // content kept for KeepBody, in a buffer charged to Budget
	charge      runtime.Cleanup // returns body's charge to Budget once the collector frees it
	shared      bool            // Result handed body out: its bytes are never written again
	bodyCut     bool
	bodyOmitted bool
}

// Reset prepares m for a new message. The Body of an earlier Result stays the caller's.
func (m *Message) Reset() {
	if m.hash != nil {
		m.hash.Reset()
	}
	m.octets = 0
	m.header = m.header[:0]
	m.headerDone = false
	m.truncated = false
	m.dropBody()
	m.bodyCut = false
	m.bodyOmitted = false
}

// Write adds p, the next piece of the unstuffed content (RFC 1939 §3: the reply's lines with
// their line endings, the byte-stuffing dot removed, the terminating line excluded). Pieces may
// split the content at any byte. Write copies what it keeps, never retains p, and never fails.
// Once the header block is complete it does not allocate unless KeepBody is set.
func (m *Message) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if m.hash == nil {
		m.hash = sha256.New()
	}
	m.hash.Write(p)
	m.octets += int64(len(p))
	if !m.headerDone {
		m.scanHeader(p)
	}
	if m.KeepBody && !m.bodyCut && !m.bodyOmitted {
		m.keep(p)
	}
	return len(p), nil
}

// scanHeader appends p to the header buffer, up to MaxHeader, and ends the header block at its
// first empty line (RFC 5322 §2.1; an LF-only or CR LF line ending both count).
func (m *Message) scanHeader(p []byte) {
	start := len(m.header)
	if room := MaxHeader - start; len(p) > room {
		p = p[:room]
	}
	m.header = append(m.header, p...)
	for i := start; ; {
		j := bytes.IndexByte(m.header[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		if blankLineEndsAt(m.header, i) {
			m.header = m.header[:i+1]
			m.headerDone = true
			return
		}
		i++
	}
	if len(m.header) == MaxHeader {
		m.headerDone = true
		m.truncated = true
	}
}

// blankLineEndsAt reports whether the LF at b[i] ends an empty line: one that starts the
// content or follows another line's LF, optionally with a CR before the LF.
func blankLineEndsAt(b []byte, i int) bool {
	if i > 0 && b[i-1] == '\r' {
		i--
	}
	return i == 0 || b[i-1] == '\n'
}

// keep appends p to the kept body, up to the body limit. When the Budget cannot cover the
// room it needs, the content is left out.
func (m *Message) keep(p []byte) {
	limit := m.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	if room := limit - int64(len(m.body)); int64(len(p)) > room {
		p = p[:room]
		m.bodyCut = true
	}
	if len(p) == 0 {
		return
	}
	if (m.shared || len(m.body)+len(p) > cap(m.body)) && !m.grow(len(m.body)+len(p), int(limit)) {
		m.dropBody()
		m.bodyOmitted = true
		return
	}
	m.body = append(m.body, p...)
}

// Growth of the kept body: the buffer doubles up to growLinear, then grows by a quarter, so
// that its unused tail stays small; it starts at minKept.
const (
	minKept    = 4 << 10
	growLinear = 1 << 20
)

// grow moves the kept body to a new buffer with room for need bytes (at most limit), charged
// to the Budget, and lets go of the old one. It reports false when the Budget refuses.
func (m *Message) grow(need, limit int) bool {
	c := cap(m.body) * 2
	if c > growLinear {
		c = cap(m.body) + cap(m.body)/4
	}
	c = min(max(c, need, minKept), limit)
	// The old buffer's charge moves to the new one, unless Result handed the old one out.
	credit := 0
	if !m.shared {
		credit = cap(m.body)
	}
	buf, charge, ok := m.Budget.alloc(c, credit)
	if !ok {
		return false
	}
	buf = append(buf, m.body...)
	if !m.shared {
		m.charge.Stop()
	}
	m.body, m.charge, m.shared = buf, charge, false
	return true
}

// dropBody lets go of the kept body. A buffer Result did not hand out is garbage now, so its
// charge returns at once; one it handed out stays charged until the collector frees it.
func (m *Message) dropBody() {
	if m.body != nil && !m.shared {
		m.charge.Stop()
		m.Budget.release(int64(cap(m.body)))
	}
	m.body, m.charge, m.shared = nil, runtime.Cleanup{}, false
}

// emptySHA256 is the hex SHA-256 of no content, the digest of a Message never written.
var emptySHA256 = func() string {
	sum := sha256.Sum256(nil)
	return hex.EncodeToString(sum[:])
}()

// Result returns the audit of the content written so far; call it after the body ended.
// Calling it twice gives the same record. The Body it returns shares the kept buffer, which
// the Message never writes to again (a later Write moves the content to a new buffer).
func (m *Message) Result() Result {
	r := Result{
		Octets:          m.octets,
		SHA256:          emptySHA256,
		HeaderTruncated: m.truncated,
		BodyTruncated:   m.bodyCut,
		BodyOmitted:     m.bodyOmitted,
	}
	if m.body != nil {
		r.Body = unsafe.String(unsafe.SliceData(m.body), len(m.body))
		m.shared = true
	}
	if m.hash != nil {
		var sum [sha256.Size]byte
		r.SHA256 = hex.EncodeToString(m.hash.Sum(sum[:0]))
	}
	block := m.header
	if m.truncated {
		// Only complete lines: a field cut in the middle would log a wrong value.
		block = block[:bytes.LastIndexByte(block, '\n')+1]
	}
	f := parseHeader(block)
	r.From, r.To, r.Cc = f.from, f.to, f.cc
	r.Subject, r.Date, r.MessageID = f.subject, f.date, f.messageID
	r.HeaderMalformed = f.malformed
	return r
}
