// Package metrics holds popwire's Prometheus metrics: a Registry of its own (with the Go and
// process collectors) and, per route, a Route whose counters are bound to their label values
// once, so that the data path counts with an atomic add and no lookup. Every label value comes
// from a fixed set or from the operator's configuration (route and listener names): nothing a
// client or server sends, no user name, address or secret, becomes a label value.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every popwire metric name.
const namespace = "popwire"

// Registry is the set of popwire metrics of one process. Create it with New; its methods are
// safe for concurrent use.
type Registry struct {
	reg *prometheus.Registry

	sessionsActive *prometheus.GaugeVec   // route, listener
	sessionsTotal  *prometheus.CounterVec // route, listener, end
	bytes          *prometheus.CounterVec // route, direction
	commands       *prometheus.CounterVec // route, verb
	replies        *prometheus.CounterVec // route, status
	logins         *prometheus.CounterVec // route, mechanism, outcome
	tlsFailures    *prometheus.CounterVec // route, leg, reason
	connectSeconds *prometheus.HistogramVec
	tlsSeconds     *prometheus.HistogramVec
	refusals       *prometheus.CounterVec // route, kind
	refreshes      *prometheus.CounterVec // route, outcome
}

// latencyBuckets are the upper bounds, in seconds, of the upstream latency histograms: from a
// loopback connect to a dial about to hit its timeout.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New returns a Registry with every popwire metric family and the Go and process collectors.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
		r.reg.MustRegister(v)
		return v
	}
	histogram := func(name, help string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: latencyBuckets}, []string{"route"})
		r.reg.MustRegister(v)
		return v
	}
	r.sessionsActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "sessions_active",
		Help: "Client sessions open now."}, []string{"route", "listener"})
	r.reg.MustRegister(r.sessionsActive)
	r.sessionsTotal = counter("sessions_total", "Client connections ended, by how they ended (refused: turned away at a connection limit).", "route", "listener", "end")
	r.bytes = counter("bytes_total", "Bytes written to the upstream (client_to_server) and to the client (server_to_client).", "route", "direction")
	r.commands = counter("commands_total", "Client commands, by verb (other: any verb outside the POP3 extensions popwire knows).", "route", "verb")
	r.replies = counter("replies_total", "Status lines answering a command, by status (continuation: a SASL challenge); popwire's own answers included.", "route", "status")
	r.logins = counter("logins_total", "Server answers to a login (PASS, APOP, AUTH with a mechanism), by mechanism and outcome.", "route", "mechanism", "outcome")
	r.tlsFailures = counter("tls_handshake_failures_total", "Failed TLS handshakes, by leg (client, upstream) and reason.", "route", "leg", "reason")
	r.connectSeconds = histogram("upstream_connect_seconds", "Time to open the TCP connection to the upstream (DNS excluded).")
	r.tlsSeconds = histogram("upstream_tls_seconds", "Time of the upstream TLS handshake; with STARTTLS, from the plaintext greeting to the end of the handshake.")
	r.refusals = counter("policy_refusals_total", "Client commands and connections refused by a policy or limit, by kind.", "route", "kind")
	r.refreshes = counter("oauth_refreshes_total", "OAuth access-token refreshes, by outcome.", "route", "outcome")
	return r
}

// Handler returns the HTTP handler of /metrics for this registry. A failure to gather is
// answered with HTTP 500 and the error; the handler never serves a partial scrape silently.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError, Registry: r.reg,
		Timeout: 10 * time.Second})
}

// DroppedFunc exports dropped, the count of log events one output (named output: "stderr",
// "log-file", "pcap") has lost, as popwire_log_events_dropped_total{output}; it is read at
// each scrape. It panics when output is registered twice.
func (r *Registry) DroppedFunc(output string, dropped func() int64) {
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: "log_events_dropped_total",
		Help: "Log events an output lost (its queue was full or it could not write).", ConstLabels: prometheus.Labels{"output": output}},
		func() float64 { return float64(dropped()) }))
}
