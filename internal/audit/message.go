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
	header      []byte            // the header block, or what has been seen of it; reused across Reset
	headerDone  bool              // the header block ended (blank line seen) or hit MaxHeader
	truncated   bool              // the header block hit MaxHeader before its end
	blocks      [][]byte          // content kept for KeepBody, in order, each block charged to Budget
	charges     []runtime.Cleanup // per block: returns its charge to Budget once the collector frees it
	kept        int               // bytes in blocks
	shared      bool              // Result handed blocks[0] out: its bytes are never written again
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
	if room := limit - int64(m.kept); int64(len(p)) > room {
		p = p[:room]
		m.bodyCut = true
	}
	for len(p) > 0 {
		last := len(m.blocks) - 1
		if last < 0 || len(m.blocks[last]) == cap(m.blocks[last]) || last == 0 && m.shared {
			if !m.addBlock(int(limit)) {
				m.dropBody()
				m.bodyOmitted = true
				return
			}
			last = len(m.blocks) - 1
		}
		b := m.blocks[last]
		n := min(len(p), cap(b)-len(b))
		m.blocks[last] = append(b, p[:n]...)
		m.kept += n
		p = p[n:]
	}
}

// Blocks of kept content: each new block is as large as the content kept so far, between
// minKept and maxBlock, so that the unused tail of the last one stays small and no content is
// ever copied to make room.
const (
	minKept  = 4 << 10
	maxBlock = 1 << 20
)

// addBlock adds an empty block charged to the Budget, at most as large as the body limit
// leaves room for. It reports false when the Budget refuses.
func (m *Message) addBlock(limit int) bool {
	c := min(max(m.kept, minKept), maxBlock, limit-m.kept)
	buf, charge, ok := m.Budget.alloc(c, 0)
	if !ok {
		return false
	}
	m.blocks = append(m.blocks, buf)
	m.charges = append(m.charges, charge)
	return true
}

// dropBody lets go of the kept body. A block Result did not hand out is garbage now, so its
// charge returns at once; one it handed out stays charged until the collector frees it.
func (m *Message) dropBody() {
	for i, b := range m.blocks {
		if i > 0 || !m.shared {
			m.charges[i].Stop()
			m.Budget.release(int64(cap(b)))
		}
	}
	clear(m.blocks)
	clear(m.charges)
	m.blocks, m.charges, m.kept, m.shared = m.blocks[:0], m.charges[:0], 0, false
}

// joinBody makes the kept content one block, the first, and reports false when the Budget
// refuses the room. The blocks' charge moves to the new block (they are garbage once it is
// made), except a block Result handed out, which keeps its own.
func (m *Message) joinBody() bool {
	credit := 0
	for i, b := range m.blocks {
		if i > 0 || !m.shared {
			credit += cap(b)
		}
	}
	buf, charge, ok := m.Budget.alloc(m.kept, credit)
	if !ok {
		return false
	}
	for i, b := range m.blocks {
		buf = append(buf, b...)
		if i > 0 || !m.shared {
			m.charges[i].Stop()
		}
	}
	clear(m.blocks)
	clear(m.charges)
	m.blocks, m.charges, m.shared = append(m.blocks[:0], buf), append(m.charges[:0], charge), false
	return true
}

// emptySHA256 is the hex SHA-256 of no content, the digest of a Message never written.
var emptySHA256 = func() string {
	sum := sha256.Sum256(nil)
	return hex.EncodeToString(sum[:])
}()

// Result returns the audit of the content written so far; call it after the body ended.
// Calling it twice gives the same record. The Body it returns shares the kept buffer, which
// the Message never writes to again (a later Write adds a block, and a later Result joins
// them into a new buffer). Content kept in several blocks is joined into one buffer here,
// the one copy of it the Message makes.
func (m *Message) Result() Result {
	r := Result{
		Octets:          m.octets,
		SHA256:          emptySHA256,
		HeaderTruncated: m.truncated,
		BodyTruncated:   m.bodyCut,
		BodyOmitted:     m.bodyOmitted,
	}
	if len(m.blocks) > 1 && !m.joinBody() {
		m.dropBody()
		m.bodyOmitted = true
		r.BodyOmitted = true
	}
	if m.kept > 0 {
		r.Body = unsafe.String(unsafe.SliceData(m.blocks[0]), m.kept)
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
