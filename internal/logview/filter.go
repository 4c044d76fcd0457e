package logview

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/popwire/popwire/internal/redact"
)

// Filter selects events for the viewer. The zero value selects everything. Conditions combine
// with AND.
//
// Session, User and Client select whole sessions: once a session is known to belong to the
// user (from Event.User, or the argument of a USER or APOP command) every event of that
// session is kept, including those logged before the user was known. Until then up to
// MaxPendingEvents events per session are held back; if more arrive, the oldest held ones are
// dropped. Process-level events (no session) never match a session-scoped filter.
//
// Command, Errors, Since and Until select single events.
type Filter struct {
	Session string    // session id, exact
	User    string    // POP3 user name (as logged, so hashed under --hide-users), case-insensitive
	Client  string    // client address: HOST:PORT exactly, or HOST alone for any port
	Command string    // command verb, case-insensitive: the command, its replies and body, and for DELE the delete event, for AUTH the SASL steps
	Errors  bool      // only -ERR replies and greetings, error, anomaly and finding events
	Since   time.Time // only events at or after Since; zero means no bound
	Until   time.Time // only events at or before Until; zero means no bound
}

// MaxPendingEvents bounds the events held per session while a session-scoped filter cannot yet
// decide whether the session matches.
const MaxPendingEvents = 256

// maxGateSessions bounds the sessions whose decision is remembered; the oldest is forgotten
// first, so a log of sessions that never close cannot grow memory without bound.
const maxGateSessions = 10000

// ParseTimeBound parses a --since or --until value: an RFC 3339 time ("2025-03-14T09:00:00Z"),
// a date ("2025-03-14", midnight UTC), or a duration meaning that long before now ("15m",
// "2h30m").
func ParseTimeBound(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("logview: time %q: want RFC 3339, YYYY-MM-DD or a duration like 15m", s)
	}
	if d < 0 {
		return time.Time{}, errors.New("logview: a duration bound counts back from now and must not be negative")
	}
	return now.Add(-d), nil
}

// sessionScoped reports whether f selects whole sessions by an attribute learnt on the way.
func (f *Filter) sessionScoped() bool { return f.User != "" || f.Client != "" }

// matchEvent applies the per-event conditions.
func (f *Filter) matchEvent(e *Event) bool {
	if !f.inWindow(e) {
		return false
	}
	if f.Errors && !e.IsError() {
		return false
	}
	if f.Command != "" {
		switch {
		case strings.EqualFold(e.Verb, f.Command), strings.EqualFold(e.Answers, f.Command):
		case e.Kind == KindDelete && strings.EqualFold(f.Command, "DELE"):
		case e.Kind == KindSASL && strings.EqualFold(f.Command, "AUTH"):
		default:
			return false
		}
	}
	return true
}

func (f *Filter) inWindow(e *Event) bool {
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && e.Time.After(f.Until) {
		return false
	}
	return true
}

// eventUser returns the user an event reveals, or "".
func eventUser(e *Event) string {
	if e.User != "" {
		return e.User
	}
	if e.Kind == KindCommand && (strings.EqualFold(e.Verb, "USER") || strings.EqualFold(e.Verb, "APOP")) {
		fields := strings.Fields(e.Text)
		if len(fields) >= 2 && fields[1] != redact.Marker {
			return fields[1]
		}
	}
	return ""
}

func clientMatches(want, addr string) bool {
	if addr == want {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	return err == nil && host == strings.Trim(want, "[]")
}

// gateState is what the gate knows about one session.
type gateState struct {
	user, client string
	decided      bool // the session matched or failed; pending is empty
	matched      bool
	pending      []Event
}

// gate applies a filter's session conditions, holding events back while undecided.
type gate struct {
	f        *Filter
	sessions map[string]*gateState
	order    []string // session ids in creation order, for eviction
}

func newGate(f *Filter) *gate {
	return &gate{f: f, sessions: make(map[string]*gateState)}
}

// push passes e, and any events it releases, to emit in log order.
func (g *gate) push(e Event, emit func(Event)) {
	if g.f.Session != "" && e.Session != g.f.Session {
		return
	}
	if !g.f.sessionScoped() {
		emit(e)
		return
	}
	if e.Session == "" {
		return
	}
	st := g.state(e.Session)
	if e.Kind == KindClose {
		defer g.forget(e.Session)
	}
	if st.decided {
		if st.matched {
			emit(e)
		}
		return
	}
	if u := eventUser(&e); u != "" {
		st.user = u
	}
	if e.Client != "" {
		st.client = e.Client
	}
	known, ok := g.decide(st)
	if !known {
		if len(st.pending) == MaxPendingEvents {
			st.pending = append(st.pending[:0], st.pending[1:]...)
		}
		st.pending = append(st.pending, e)
		return
	}
	st.decided, st.matched = true, ok
	if ok {
		for _, p := range st.pending {
			emit(p)
		}
		emit(e)
	}
	st.pending = nil
}

// decide reports whether the session's match is known yet, and if so whether it matches.
func (g *gate) decide(st *gateState) (known, match bool) {
	if g.f.User != "" {
		if st.user == "" {
			return false, false
		}
		if !strings.EqualFold(st.user, g.f.User) {
			return true, false
		}
	}
	if g.f.Client != "" {
		if st.client == "" {
			return false, false
		}
		if !clientMatches(g.f.Client, st.client) {
			return true, false
		}
	}
	return true, true
}

func (g *gate) state(id string) *gateState {
	if st, ok := g.sessions[id]; ok {
		return st
	}
	for len(g.sessions) >= maxGateSessions && len(g.order) > 0 {
		delete(g.sessions, g.order[0])
		g.order = g.order[1:]
	}
	st := &gateState{}
	g.sessions[id] = st
	g.order = append(g.order, id)
	return st
}

func (g *gate) forget(id string) {
	delete(g.sessions, id)
	if len(g.order) > 2*len(g.sessions)+64 {
		kept := g.order[:0]
		for _, s := range g.order {
			if _, ok := g.sessions[s]; ok {
				kept = append(kept, s)
			}
		}
		g.order = kept
	}
}
