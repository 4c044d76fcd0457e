package codec

import (
	"bytes"
	"strconv"
)

// Body scanner states: where the scanner stands within the current body line.
const (
	bsBOL   uint8 = iota // at the start of a line
	bsLine               // inside a line that does not start with a dot
	bsDot                // after a dot at the start of a line
	bsDotCR              // after a dot and a CR at the start of a line
)

// bodyState is an open multi-line reply (RFC 1939 §3). The zero value is no body.
type bodyState struct {
	open    bool
	kind    bodyKind
	cmd     Command // the command answered
	st      uint8   // scanner state (bodyData)
	lines   int64   // lines so far, terminator excluded
	octets  int64   // wire bytes so far, stuffing included, terminator excluded
	stuffed int64   // RETR/TOP: line-initial dots dropped, for the size check (RFC 1939 §11)
	bareLF  int64   // RETR/TOP: lines ended by LF alone, counted as CRLF by the size check
	lastCR  bool    // RETR/TOP: the line in progress ended the previous chunk with a CR
}

// scanPath says how scanData skips the plain lines of RETR/TOP content; the tests compare
// the paths. The zero value, scanFast, is the fastest the processor has.
type scanPath uint8

// The paths of scanData.
const (
	scanFast     scanPath = iota // scanLines, its fastest version (AVX2 on amd64 when present)
	scanBaseline                 // scanLines, the version every processor of the architecture runs (SSE2 on amd64)
	scanPlain                    // no scanLines: one bytes.IndexByte per line, the reference
)

// crOnly is the FrameBodyData for a CR that followed a line-initial dot but no LF (so the dot
// was stuffing, not a terminator); it is emitted from here because that CR may lie in an
// earlier chunk.
var crOnly = []byte("\r")

// scanData scans RETR/TOP content from p[i:] without copying it and returns where it stopped:
// at the end of p, or right after the terminating line. scanLines skips the plain lines (CRLF,
// no leading dot) many at a time; the line it stops before is found with bytes.IndexByte, and
// only a line that starts with a dot needs the state machine. A line that starts with a dot is
// unstuffed (RFC 1939 §3); ".␍␊" ends the body, and so does ".␊" from a server whose status
// lines use bare LF. A ".␊" from a CRLF server is reported and treated as an ordinary line.
func (t *Tracker) scanData(p []byte, i int) int {
	b := &t.body
	seg := i
	for i < len(p) {
		switch b.st {
		case bsLine:
			if t.scan != scanPlain {
				if n, lines := scanLines(p[i:], t.scan); n > 0 {
					b.lines += int64(lines)
					b.octets += int64(n)
					i += n
					if p[i-1] == '\n' {
						b.st = bsBOL
						continue
					}
				}
			}
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				b.octets += int64(len(p) - i)
				b.lastCR = p[len(p)-1] == '\r'
				i = len(p)
				continue
			}
			if k := i + j; k > 0 && p[k-1] != '\r' || k == 0 && !b.lastCR {
				seg = t.bareLFData(p, seg, k+1)
			}
			b.lastCR = false
			b.lines++
			b.octets += int64(j + 1)
			i += j + 1
			if i < len(p) && p[i] != '.' {
				continue
			}
			b.st = bsBOL
		case bsBOL:
			if p[i] != '.' {
				b.st = bsLine
				continue
			}
			t.bodyData(p[seg:i], i)
			i++
			seg = i
			b.st = bsDot
		case bsDot:
			switch p[i] {
			case '\r':
				i++
				seg = i
				b.st = bsDotCR
			case '\n':
				if !t.crlf {
					return t.endData(i + 1)
				}
				t.emit(Frame{Kind: FrameAnomaly, Dir: FromServer, End: i + 1, Note: noteLoneDotLF})
				seg = t.bareLFData(p, i, i+1)
				b.stuffed++
				b.lines++
				b.octets += 2
				i++
				b.st = bsBOL
			default:
				b.octets++
				b.stuffed++
				b.st = bsLine
			}
		case bsDotCR:
			if p[i] == '\n' {
				return t.endData(i + 1)
			}
			b.octets += 2
			b.stuffed++
			t.bodyData(crOnly, i)
			seg = i
			b.st = bsLine
		}
	}
	t.bodyData(p[seg:i], i)
	return i
}

// bareLFData counts a line of content that ends in a bare LF at end-1 and reports the first
// one, after the content up to it (p[seg:end]), so that the finding lands at the same place
// in the content whatever the chunking. It returns where the content not yet emitted starts.
// A bare LF that ends the body (".\n") comes only from a server whose status lines end so
// too, which was reported already.
func (t *Tracker) bareLFData(p []byte, seg, end int) int {
	t.body.bareLF++
	if t.reported(RuleBareLF, FromServer) {
		return seg
	}
	t.bodyData(p[seg:end], end)
	t.finding(RuleBareLF, FromServer, end, "line "+strconv.FormatInt(t.body.lines+1, 10)+" of the "+
		t.body.cmd.Verb+" content ends in a bare LF, not CRLF", line{})
	return end
}

// bodyData emits a FrameBodyData for d when asked to and d is not empty.
func (t *Tracker) bodyData(d []byte, end int) {
	if t.BodyData && len(d) > 0 {
		t.emit(Frame{Kind: FrameBodyData, Dir: FromServer, Cmd: t.body.cmd, Data: d, End: end})
	}
}

// endData closes a RETR/TOP body whose terminator ends at end.
func (t *Tracker) endData(end int) int {
	t.endBody(end)
	return end
}

// endBody emits FrameBodyEnd and closes the body.
func (t *Tracker) endBody(end int) {
	b := t.body
	t.body = bodyState{}
	t.replied++
	t.emit(Frame{Kind: FrameBodyEnd, Dir: FromServer, Cmd: b.cmd, Lines: b.lines, Octets: b.octets, End: end})
	t.bodyEnded(b, end)
}

// listLine handles one line of a multi-line reply framed line by line: the terminator, or a
// body line, unstuffed (RFC 1939 §3). A bare LF that ends the body comes only from a server
// whose status lines end so too, which was reported already.
func (t *Tracker) listLine(l line, end int) {
	b := &t.body
	if l.full == 1 && l.b[0] == '.' {
		if l.cr || !t.crlf {
			t.endBody(end)
			return
		}
		t.emit(Frame{Kind: FrameAnomaly, Dir: FromServer, End: end, Note: noteLoneDotLF})
	}
	b.lines++
	b.octets += int64(l.full) + 1
	if l.cr {
		b.octets++
	}
	if l.full > 0 && l.b[0] == '.' {
		l.b, l.full = l.b[1:], l.full-1
		l.truncated = l.full > len(l.b)
	}
	t.emit(withLine(Frame{Kind: FrameListLine, Dir: FromServer, Cmd: b.cmd, End: end}, l))
	t.checkListLine(b.cmd.Verb, l, end)
}
