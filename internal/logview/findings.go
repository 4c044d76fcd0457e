package logview

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/popwire/popwire/internal/termtext"
)

// Finding is a conformance finding (KindFinding): one side broke a rule of the POP3
// standards. popwire reports each rule at most once per session and side.
type Finding struct {
	Side        string `json:"side"`                  // whose bytes broke the rule: "client" or "server"
	Rule        string `json:"rule"`                  // the rule's name ("bare-lf")
	RFC         string `json:"rfc"`                   // the sections that state it ("RFC 1939 §3")
	Requirement string `json:"requirement,omitempty"` // what the rule requires, and how far popwire checks it
	Evidence    string `json:"evidence"`              // how it was broken; a server line that shows it is quoted, secrets redacted
}

func appendFinding(dst []byte, f *Finding) []byte {
	dst = append(dst, `{"side":`...)
	dst = appendString(dst, f.Side)
	dst = append(dst, `,"rule":`...)
	dst = appendString(dst, f.Rule)
	dst = append(dst, `,"rfc":`...)
	dst = appendString(dst, f.RFC)
	dst = appendStrField(dst, "requirement", f.Requirement)
	dst = append(dst, `,"evidence":`...)
	dst = appendString(dst, f.Evidence)
	return append(dst, '}')
}

// appendFinding appends the transcript line of a finding event after its prefix:
//
//	finding server bare-lf (RFC 1939 §3): the status line ends in a bare LF, not CRLF: "+OK"
func (p *Printer) appendFinding(dst []byte, e *Event) []byte {
	dst = p.p.anomaly.add(dst, "finding")
	f := e.Finding
	if f == nil {
		return dst
	}
	dst = append(dst, ' ')
	dst = p.p.faint.add(dst, f.Side)
	dst = append(dst, ' ')
	dst = p.p.meta.add(dst, f.Rule)
	if f.RFC != "" {
		dst = append(dst, " ("...)
		dst = termtext.Append(dst, f.RFC)
		dst = append(dst, ')')
	}
	dst = append(dst, ": "...)
	return p.appendText(dst, style{}, f.Evidence)
}

// maxFindingGroups bounds the groups a findings report keeps: a log that names more rules
// than that (it is not popwire's) has the findings of further rules counted together.
const maxFindingGroups = 256

// FindingGroup is one entry of `popwire view --findings`: the findings of one rule broken by
// one side, with the first of them.
type FindingGroup struct {
	Rule          string    `json:"rule"`
	Side          string    `json:"side"`
	RFC           string    `json:"rfc"`
	Requirement   string    `json:"requirement,omitempty"`
	Count         int       `json:"count"`                   // findings of this rule and side
	FirstSession  string    `json:"first_session,omitempty"` // the session of the first one
	FirstTime     time.Time `json:"first_time"`              // when the first one happened
	FirstEvidence string    `json:"first_evidence"`          // what the first one showed
}

// findingsReport groups finding events by rule and side, in the order the groups first
// appear.
type findingsReport struct {
	groups map[[2]string]*FindingGroup
	order  []*FindingGroup
	other  int // findings of rules beyond maxFindingGroups
}

func newFindingsReport() *findingsReport {
	return &findingsReport{groups: map[[2]string]*FindingGroup{}}
}

// add counts e when it is a finding.
func (r *findingsReport) add(e *Event) {
	f := e.Finding
	if e.Kind != KindFinding || f == nil {
		return
	}
	key := [2]string{f.Rule, f.Side}
	g := r.groups[key]
	switch {
	case g != nil:
		g.Count++
		if g.Requirement == "" {
			g.Requirement = f.Requirement
		}
		return
	case len(r.order) >= maxFindingGroups:
		r.other++
		return
	}
	g = &FindingGroup{Rule: f.Rule, Side: f.Side, RFC: f.RFC, Requirement: f.Requirement, Count: 1,
		FirstSession: e.Session, FirstTime: e.Time, FirstEvidence: f.Evidence}
	r.groups[key] = g
	r.order = append(r.order, g)
}

// sorted returns the groups, the most frequent first, then by rule and side.
func (r *findingsReport) sorted() []FindingGroup {
	out := make([]FindingGroup, len(r.order))
	for i, g := range r.order {
		out[i] = *g
	}
	slices.SortStableFunc(out, func(a, b FindingGroup) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Side, b.Side))
	})
	return out
}

// write writes the report as text or, with asJSON, one FindingGroup per line.
func (r *findingsReport) write(w io.Writer, asJSON, colour bool, loc *time.Location) error {
	groups := r.sorted()
	var b []byte
	if asJSON {
		for _, g := range groups {
			line, err := json.Marshal(g)
			if err != nil {
				return fmt.Errorf("logview: encode findings: %w", err)
			}
			b = append(append(b, line...), '\n')
		}
	} else {
		b = appendFindingsText(b, groups, r.other, newPalette(colour), loc)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("logview: write findings: %w", err)
	}
	return nil
}

// appendFindingsText renders the report: a count line, then per group a heading (rule, side,
// RFC sections, how many, the first session and time), the rule's requirement and the first
// evidence.
//
//	bare-lf · server · RFC 1939 §3 — 2 findings, first in session c9d0e1f2 at 2025-03-14 09:26:57.709
//	    rule:  Every line ends in CRLF: …
//	    first: the status line ends in a bare LF, not CRLF: "+OK"
func appendFindingsText(dst []byte, groups []FindingGroup, other int, p palette, loc *time.Location) []byte {
	total := other
	for _, g := range groups {
		total += g.Count
	}
	dst = p.meta.add(dst, plural(total, "finding")+" of "+plural(len(groups), "rule"))
	dst = append(dst, '\n')
	for _, g := range groups {
		dst = p.anomaly.add(dst, g.Rule)
		dst = append(dst, " · "...)
		dst = termtext.Append(dst, g.Side)
		if g.RFC != "" {
			dst = append(dst, " · "...)
			dst = termtext.Append(dst, g.RFC)
		}
		dst = append(dst, " — "...)
		dst = termtext.Append(dst, plural(g.Count, "finding")+", first")
		if g.FirstSession != "" {
			dst = append(dst, " in session "...)
			dst = p.meta.add(dst, g.FirstSession)
		}
		dst = append(dst, " at "...)
		dst = g.FirstTime.In(loc).AppendFormat(dst, "2006-01-02 15:04:05.000")
		dst = append(dst, '\n')
		if g.Requirement != "" {
			dst = p.faint.add(dst, "    rule:  "+g.Requirement)
			dst = append(dst, '\n')
		}
		dst = append(dst, "    first: "...)
		dst = termtext.Append(dst, g.FirstEvidence)
		dst = append(dst, '\n')
	}
	if other > 0 {
		dst = termtext.Append(dst, plural(other, "more finding")+" of further rules, not grouped")
		dst = append(dst, '\n')
	}
	return dst
}

// plural returns "1 finding" or "3 findings".
func plural(n int, noun string) string {
	s := strconv.Itoa(n) + " " + noun
	if n != 1 {
		s += "s"
	}
	return s
}
