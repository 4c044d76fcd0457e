package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
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
	header      []byte    // the header block, or what has been seen of it; reused across Reset
	headerDone  bool      // the header block ended (blank line seen) or hit MaxHeader
	truncated   bool      // the header block hit MaxHeader before its end
	blocks      [][]byte  // content kept for KeepBody, in order, each block charged to Budget
	set         *blockSet // the charges of blocks; nil until the first block
	kept        int       // bytes in blocks
	handed      int       // blocks[:handed] were handed out by Result: never written again, charged to its Kept
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
		if last < 0 || len(m.blocks[last]) == cap(m.blocks[last]) || last < m.handed {
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
	buf, charge, ok := m.Budget.alloc(c)
	if !ok {
		return false
	}
	if m.set == nil {
		m.set = &blockSet{budget: m.Budget}
	}
	m.blocks = append(m.blocks, buf)
	m.set.add(c, charge)
	return true
}

// dropBody lets go of the kept body. Blocks that Result never handed out are garbage now, so
// their charge returns at once; those it handed out are the Kept's to drop, or stay charged
// until the collector frees them.
func (m *Message) dropBody() {
	for i := m.handed; i < len(m.blocks); i++ {
		m.set.drop(i)
	}
	clear(m.blocks)
	m.blocks, m.set, m.kept, m.handed = m.blocks[:0], nil, 0, 0
}

// emptySHA256 is the hex SHA-256 of no content, the digest of a Message never written.
var emptySHA256 = func() string {
	sum := sha256.Sum256(nil)
	return hex.EncodeToString(sum[:])
}()

// Result returns the audit of the content written so far; call it after the body ended.
// Calling it twice gives the same record. The Body it returns is the kept blocks themselves,
// with no copy made; the Message never writes to them again (a later Write adds a block).
// From then on the blocks' charge is the Body's: Reset leaves it to Body.Drop, or to the
// collector.
func (m *Message) Result() Result {
	r := Result{
		Octets:          m.octets,
		SHA256:          emptySHA256,
		HeaderTruncated: m.truncated,
		BodyTruncated:   m.bodyCut,
		BodyOmitted:     m.bodyOmitted,
	}
	if m.kept > 0 {
		parts := make([]string, len(m.blocks))
		for i, b := range m.blocks {
			parts[i] = unsafe.String(unsafe.SliceData(b), len(b))
		}
		r.Body = Kept{Parts: parts, set: m.set}
		m.handed = len(m.blocks)
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
