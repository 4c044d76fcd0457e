package logview

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/popwire/popwire/internal/termtext"
)

// SessionSummary is what the viewer's --summary reports for one session.
type SessionSummary struct {
	Session   string        `json:"session"`
	Client    string        `json:"client,omitempty"`
	User      string        `json:"user,omitempty"`
	Start     time.Time     `json:"start"`              // time of the first event seen
	Duration  string        `json:"duration,omitempty"` // from the close event, else first to last event seen
	Commands  int           `json:"commands"`           // from the close event, else command events seen
	Retrieved []MessageInfo `json:"retrieved,omitempty"`
	Deleted   []string      `json:"deleted,omitempty"` // UIDs, "#n" when unknown
	Closed    bool          `json:"closed"`            // a close event was seen
	Committed bool          `json:"committed"`         // QUIT committed the deletions (RFC 1939 §6)
	Reason    string        `json:"reason,omitempty"`
	Errors    int           `json:"errors"` // -ERR replies, error, anomaly and finding events
}

// summariser accumulates SessionSummary values in order of first appearance.
type summariser struct {
	byID    map[string]*sessionAcc
	order   []*sessionAcc
	matched func(*Event) bool // per-event filter a session must satisfy at least once
}

type sessionAcc struct {
	s        SessionSummary
	last     time.Time
	matched  bool
	commands int
	deleted  []string
}

func newSummariser(matched func(*Event) bool) *summariser {
	return &summariser{byID: make(map[string]*sessionAcc), matched: matched}
}

func (sm *summariser) add(e Event) {
	if e.Session == "" {
		return
	}
	a, ok := sm.byID[e.Session]
	if !ok {
		a = &sessionAcc{s: SessionSummary{Session: e.Session, Start: e.Time}}
		sm.byID[e.Session] = a
		sm.order = append(sm.order, a)
	}
	if sm.matched(&e) {
		a.matched = true
	}
	a.last = e.Time
	if e.Client != "" {
		a.s.Client = e.Client
	}
	if u := eventUser(&e); u != "" {
		a.s.User = u
	}
	if e.IsError() {
		a.s.Errors++
	}
	switch e.Kind {
	case KindCommand:
		a.commands++
	case KindBody:
		if e.Message != nil && !e.Message.Top {
			a.s.Retrieved = append(a.s.Retrieved, *e.Message)
		}
	case KindDelete:
		if e.UID != "" {
			a.deleted = append(a.deleted, e.UID)
		} else {
			a.deleted = append(a.deleted, fmt.Sprintf("#%d", e.Msg))
		}
	case KindClose:
		a.s.Closed = true
		if sum := e.Summary; sum != nil {
			a.s.Duration, a.s.Commands = sum.Duration, sum.Commands
			a.s.Deleted, a.s.Committed, a.s.Reason = sum.Deleted, sum.Committed, sum.Reason
			if len(a.s.Retrieved) == 0 {
				// No audit records (--bodies none): the close event still names what was retrieved.
				for _, id := range sum.Retrieved {
					a.s.Retrieved = append(a.s.Retrieved, retrievedID(id))
				}
			}
		}
	}
}

// retrievedID turns an entry of Summary.Retrieved ("#n" or a UID) into a MessageInfo.
func retrievedID(id string) MessageInfo {
	if n, err := strconv.Atoi(strings.TrimPrefix(id, "#")); err == nil && strings.HasPrefix(id, "#") {
		return MessageInfo{Msg: n}
	}
	return MessageInfo{UID: id}
}

// summaries returns the sessions that matched, completing what no close event supplied.
func (sm *summariser) summaries() []SessionSummary {
	var out []SessionSummary
	for _, a := range sm.order {
		if !a.matched {
			continue
		}
		s := a.s
		if !s.Closed {
			s.Commands = a.commands
			s.Deleted = a.deleted
			s.Duration = a.last.Sub(s.Start).Round(time.Millisecond).String()
		}
		out = append(out, s)
	}
	return out
}

// writeSummaryTable writes one row per session, then its retrieved messages and deleted UIDs
// indented below it.
func writeSummaryTable(w io.Writer, sums []SessionSummary, colour bool, loc *time.Location) error {
	p := newPalette(colour)
	header := []string{"SESSION", "CLIENT", "USER", "START", "DURATION", "CMDS", "RETR", "DELE", "COMMITTED"}
	rows := [][]string{header}
	for _, s := range sums {
		rows = append(rows, []string{
			s.Session, orDash(s.Client), orDash(s.User), s.Start.In(loc).Format("2006-01-02 15:04:05.000"),
			orDash(s.Duration), fmt.Sprint(s.Commands), fmt.Sprint(len(s.Retrieved)), fmt.Sprint(len(s.Deleted)),
			committedWord(&s),
		})
	}
	widths := make([]int, len(header))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for ri, r := range rows {
		for i, c := range r {
			cell := string(termtext.Append(nil, c))
			switch {
			case ri == 0:
				cell = p.meta.open + cell + p.meta.close
			case i == len(r)-1 && ri > 0:
				cell = string(committedStyle(&p, &sums[ri-1]).add(nil, cell))
			}
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteByte('\n')
		if ri == 0 {
			continue
		}
		s := &sums[ri-1]
		indent := strings.Repeat(" ", widths[0]+2)
		for _, m := range s.Retrieved {
			b.WriteString(indent)
			b.Write(appendRetrieved(nil, &m))
			b.WriteByte('\n')
		}
		if len(s.Deleted) > 0 {
			b.WriteString(indent)
			b.WriteString("deleted ")
			b.Write(appendList(nil, s.Deleted))
			b.WriteByte('\n')
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("logview: write summary: %w", err)
	}
	return nil
}

func committedWord(s *SessionSummary) string {
	switch {
	case s.Committed:
		return "yes"
	case !s.Closed:
		return "no (no close event)"
	case s.Reason != "":
		return "no (" + s.Reason + ")"
	}
	return "no"
}

func committedStyle(p *palette, s *SessionSummary) style {
	switch {
	case s.Committed:
		return p.ok
	case len(s.Deleted) > 0:
		return p.anomaly
	}
	return style{}
}

// appendRetrieved appends one audit line of the summary.
func appendRetrieved(dst []byte, m *MessageInfo) []byte {
	return appendAuditFacts(append(dst, "✉ "...), m)
}
