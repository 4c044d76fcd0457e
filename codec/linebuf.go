package codec

import "bytes"

// shrinkAbove is the capacity beyond which a line buffer is dropped once its line is done, so
// that an idle tracker holds only small buffers whatever lines it has seen.
const shrinkAbove = 1 << 10

// line is one complete line found by lineBuf.next.
type line struct {
	b         []byte // content without its line ending, capped at the limit
	full      int    // the content's full length
	cr        bool   // the line ended in CRLF rather than a bare LF
	truncated bool   // b was cut
	nul       bool   // the content holds a NUL, beyond the cut too
	bareCR    bool   // the content holds a CR (one not part of the line ending), beyond the cut too
	start     int    // offset in the chunk where the line began; 0 when it began in an earlier chunk
}

// bad reports whether the content holds a NUL or a CR (see hasBadByte).
func (l line) bad() bool { return l.nul || l.bareCR }

// lineBuf finds lines in a stream of chunks. A line that lies within one chunk is returned as a
// sub-slice of it (no copy); only a line spanning chunks is copied, and only up to the limit
// (plus one byte, for a CR at the cut). The zero value is ready to use.
type lineBuf struct {
	acc    []byte // capped copy of the line in progress
	spare  []byte // the other buffer: the last carried line handed out lives in it until the next call
	n      int    // bytes of the line in progress so far
	cr     bool   // the last byte of the line in progress is a CR
	nul    bool   // the line in progress holds a NUL
	bareCR bool   // the line in progress holds a CR followed by a byte other than LF
	active bool   // a line is in progress
}

// bad reports whether the line in progress holds a NUL or a CR that cannot end it.
func (lb *lineBuf) bad() bool { return lb.nul || lb.bareCR }

// next looks for the end of a line in p from offset i. When it finds one it returns the line,
// the offset after its LF and true; otherwise it keeps the capped partial line and returns
// len(p) and false. At most one line per chunk can have begun in an earlier chunk, so the two
// buffers are enough to keep every line handed out valid until the next chunk.
func (lb *lineBuf) next(p []byte, i, limit int) (line, int, bool) {
	rest := p[i:]
	j := bytes.IndexByte(rest, '\n')
	if j < 0 {
		lb.keep(rest, limit)
		return line{}, len(p), false
	}
	seg := rest[:j]
	if !lb.active {
		cr := j > 0 && seg[j-1] == '\r'
		if cr {
			seg = seg[:j-1]
		}
		l := capped(seg, len(seg), cr, i, limit)
		l.nul, l.bareCR = bytes.IndexByte(seg, 0) >= 0, bytes.IndexByte(seg, '\r') >= 0
		return l, i + j + 1, true
	}
	lb.keep(seg, limit)
	full := lb.n
	cr := lb.cr
	if cr {
		full--
	}
	b := lb.acc
	if len(b) > full {
		b = b[:full]
	}
	l := capped(b, full, cr, 0, limit)
	l.nul, l.bareCR = lb.nul, lb.bareCR
	lb.acc, lb.spare = lb.spare[:0], lb.acc
	if cap(lb.acc) > shrinkAbove {
		lb.acc = nil
	}
	if cap(lb.spare) > shrinkAbove {
		lb.spare = nil
	}
	lb.n, lb.cr, lb.nul, lb.bareCR, lb.active = 0, false, false, false, false
	return l, i + j + 1, true
}

// capped builds a line whose available content is b and full length full.
func capped(b []byte, full int, cr bool, start, limit int) line {
	l := line{b: b, full: full, cr: cr, start: start}
	if len(l.b) > limit {
		l.b = l.b[:limit]
	}
	l.truncated = full > limit
	return l
}

// keep appends seg to the line in progress, copying at most limit+1 bytes in all.
func (lb *lineBuf) keep(seg []byte, limit int) {
	if len(seg) == 0 {
		return
	}
	lb.active = true
	lb.n += len(seg)
	// A CR that ends seg may be the line ending's; any other one is bare.
	lb.nul = lb.nul || bytes.IndexByte(seg, 0) >= 0
	lb.bareCR = lb.bareCR || lb.cr || bytes.IndexByte(seg[:len(seg)-1], '\r') >= 0
	lb.cr = seg[len(seg)-1] == '\r'
	if room := limit + 1 - len(lb.acc); room > 0 {
		lb.acc = append(lb.acc, seg[:min(room, len(seg))]...)
	}
}

// prefix returns the start of the line in progress, cut at limit like the line that will be
// handed out, so that checks on it agree with checks on the finished line.
func (lb *lineBuf) prefix(limit int) []byte { return lb.acc[:min(len(lb.acc), limit)] }

// reset drops the line in progress.
func (lb *lineBuf) reset() {
	lb.acc = lb.acc[:0]
	lb.n, lb.cr, lb.nul, lb.bareCR, lb.active = 0, false, false, false, false
}

// footprint returns the bytes the buffers hold on to.
func (lb *lineBuf) footprint() int { return cap(lb.acc) + cap(lb.spare) }
