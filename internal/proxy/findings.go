package proxy

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/redact"
)

// maxEvidenceLine caps, in bytes, the server line a finding's evidence quotes. The line is
// cut after its secrets are taken out, so that no part of a secret survives the cut.
const maxEvidenceLine = 160

// finding records a conformance finding, a frame whose Rule is set, from leg. Its evidence
// is the codec's note, which never quotes a client's bytes, and the server line that shows
// it, scrubbed, cut and quoted. r.mu is held.
func (r *recorder) finding(f *codec.Frame, leg logview.Leg) {
	evidence := r.redact.Scrub(f.Note)
	if f.Line != nil {
		line, cut := r.redact.Scrub(string(f.Line)), f.Truncated
		if len(line) > maxEvidenceLine {
			line, cut = cutEvidence(line, maxEvidenceLine), true
		}
		evidence += ": " + strconv.Quote(line)
		if cut {
			evidence += "…"
		}
	}
	r.emit(logview.Event{Kind: logview.KindFinding, Dir: logview.LegDir(leg), Finding: &logview.Finding{
		Side: f.Dir.String(), Rule: f.Rule.String(), RFC: f.Rule.RFC(), Requirement: f.Rule.Requirement(),
		Evidence: evidence}})
}

// cutEvidence cuts a scrubbed line to about n bytes: at a rune boundary, and after a
// redaction marker that the cut would split, so that the marker still shows whole.
func cutEvidence(line string, n int) string {
	m := redact.Marker
	if i := strings.LastIndex(line[:min(len(line), n+len(m)-1)], m); i >= 0 && i+len(m) > n {
		return line[:i+len(m)]
	}
	for n > 0 && !utf8.RuneStart(line[n]) {
		n--
	}
	return line[:n]
}
