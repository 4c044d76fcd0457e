package metrics

import "github.com/prometheus/client_golang/prometheus"

// End says how a client connection ended, for popwire_sessions_total.
type End int

// The ways a connection ends.
const (
	EndClientQuit         End = iota // the server answered the client's QUIT with +OK
	EndClientClosed                  // the client closed its stream first
	EndServerClosed                  // the upstream closed its stream first
	EndIdleTimeout                   // --idle-timeout
	EndLoginTimeout                  // --login-timeout
	EndShutdown                      // closed by the shutdown of popwire
	EndRefused                       // turned away at a connection limit, no session started
	EndClientTLSFailed               // the client-leg TLS handshake failed
	EndUpstreamDialFailed            // the upstream could not be dialed
	EndError                         // any other error (framing lost, a failed write, a panic)
	numEnd
)

var endNames = [numEnd]string{"client_quit", "client_closed", "server_closed", "idle_timeout", "login_timeout",
	"shutdown", "refused", "client_tls_failed", "upstream_dial_failed", "error"}

// String returns the label value of e.
func (e End) String() string { return endNames[endIndex(e)] }

// Listener is the session metrics of one listener of a route. A nil *Listener counts nothing.
type Listener struct {
	active prometheus.Gauge
	ended  [numEnd]prometheus.Counter
}

// Listener returns the session metrics of the listener named name (the label; proxy.Listener
// passes "plain" or "tls" for an unnamed one), every series created at zero. A nil Route
// returns nil.
func (rt *Route) Listener(name string) *Listener {
	if rt == nil {
		return nil
	}
	l := &Listener{active: rt.r.sessionsActive.WithLabelValues(rt.name, name)}
	for i, e := range endNames {
		l.ended[i] = rt.r.sessionsTotal.WithLabelValues(rt.name, name, e)
	}
	return l
}

// Open counts a session started.
func (l *Listener) Open() {
	if l != nil {
		l.active.Inc()
	}
}

// Close counts a session Open counted as ended by e.
func (l *Listener) Close(e End) {
	if l == nil {
		return
	}
	l.active.Dec()
	l.ended[endIndex(e)].Inc()
}

// Refused counts a connection turned away before any session started (EndRefused).
func (l *Listener) Refused() {
	if l != nil {
		l.ended[EndRefused].Inc()
	}
}

// endIndex returns e, or EndError for a value out of range.
func endIndex(e End) End {
	if e < 0 || e >= numEnd {
		return EndError
	}
	return e
}
