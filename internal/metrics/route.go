package metrics

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultRoute is the route label of a Route created with the name "".
const DefaultRoute = "default"

// Verbs are the command verbs counted under their own name (RFC 1939, 2449, 2595, 5034, 6856,
// 1734); any other verb is counted as "other".
var Verbs = []string{"APOP", "AUTH", "CAPA", "DELE", "LANG", "LAST", "LIST", "NOOP", "PASS", "QUIT", "RETR", "RSET",
	"STAT", "STLS", "TOP", "UIDL", "USER", "UTF8"}

// verbOther is the verb label of a verb outside Verbs, and of a line that is no command.
const verbOther = "other"

// Status is the status of a reply line, for popwire_replies_total.
type Status int

// The reply statuses.
const (
	StatusOK           Status = iota // +OK
	StatusErr                        // -ERR
	StatusContinuation               // "+ " SASL challenge (RFC 5034 §4)
	numStatus
)

var statusNames = [numStatus]string{"ok", "err", "continuation"}

// Mechanisms are the login mechanisms counted under their own name: "user" (USER and PASS),
// "apop", and the SASL mechanisms, in lower case; any other mechanism is counted as "other".
var Mechanisms = []string{"user", "apop", "plain", "login", "cram-md5", "digest-md5", "scram-sha-1", "scram-sha-256",
	"xoauth2", "oauthbearer", "ntlm", "gssapi", "external", "other"}

// mechOther is the index of "other" in Mechanisms.
var mechOther = len(Mechanisms) - 1

// Refusal is a kind of policy refusal, for popwire_policy_refusals_total.
type Refusal int

// The kinds of refusal.
const (
	RefusalDeny          Refusal = iota // a command in --deny
	RefusalRequireTLS                   // a credential on a plaintext leg under --require-tls
	RefusalSTLS                         // an STLS refused (no certificate, TLS active, wrong state)
	RefusalUnparsed                     // a line popwire could not classify while a policy needs it (fail closed)
	RefusalMaxConns                     // a connection over --max-conns
	RefusalMaxConnsPerIP                // a connection over --max-conns-per-ip
	RefusalProxyProtocol                // a connection on a PROXY listener from an untrusted peer, or without a good header
	RefusalOAuth                        // a credential line after the OAuth bridge logged the client in
	numRefusal
)

var refusalNames = [numRefusal]string{"deny", "require_tls", "stls", "unparsed", "max_conns", "max_conns_per_ip", "proxy_protocol", "oauth"}

// Leg names the leg of a TLS handshake.
type Leg int

// The legs.
const (
	LegClient Leg = iota
	LegUpstream
	numLeg
)

var legNames = [numLeg]string{"client", "upstream"}

// RefreshOutcomes are the outcome label values of popwire_oauth_refreshes_total; RefreshOutcome
// counts any other outcome as "other".
var RefreshOutcomes = []string{"ok", "refused", "unreachable", "other"}

// Route is the metrics of one route, with every label value but the listener bound. A nil
// *Route counts nothing: every method does nothing on it, so that a proxy.Config without
// metrics costs one nil check per hook.
type Route struct {
	r    *Registry
	name string

	bytesUp, bytesDown prometheus.Counter
	verbs              []prometheus.Counter // Verbs, then "other"
	replies            [numStatus]prometheus.Counter
	logins             [][2]prometheus.Counter // by Mechanisms index, then ok, failed
	tlsFailures        [numLeg][numTLSReason]prometheus.Counter
	connect, handshake prometheus.Observer
	refusals           [numRefusal]prometheus.Counter
	refreshes          []prometheus.Counter // by RefreshOutcomes index
}

// Route returns the metrics of the route named name ("" means DefaultRoute), with every
// series of the route created at zero, so that a rate or an alert has a series before the
// first event. Calling it again for the same name returns a Route counting into the same
// series. A nil Registry returns nil.
func (r *Registry) Route(name string) *Route {
	if r == nil {
		return nil
	}
	if name == "" {
		name = DefaultRoute
	}
	rt := &Route{r: r, name: name,
		bytesUp:   r.bytes.WithLabelValues(name, "client_to_server"),
		bytesDown: r.bytes.WithLabelValues(name, "server_to_client"),
		connect:   r.connectSeconds.WithLabelValues(name),
		handshake: r.tlsSeconds.WithLabelValues(name),
	}
	for _, v := range append(Verbs[:len(Verbs):len(Verbs)], verbOther) {
		rt.verbs = append(rt.verbs, r.commands.WithLabelValues(name, v))
	}
	for i, s := range statusNames {
		rt.replies[i] = r.replies.WithLabelValues(name, s)
	}
	for _, m := range Mechanisms {
		rt.logins = append(rt.logins, [2]prometheus.Counter{r.logins.WithLabelValues(name, m, "ok"), r.logins.WithLabelValues(name, m, "failed")})
	}
	for l, leg := range legNames {
		for i, reason := range tlsReasonNames {
			rt.tlsFailures[l][i] = r.tlsFailures.WithLabelValues(name, leg, reason)
		}
	}
	for i, k := range refusalNames {
		rt.refusals[i] = r.refusals.WithLabelValues(name, k)
	}
	for _, o := range RefreshOutcomes {
		rt.refreshes = append(rt.refreshes, r.refreshes.WithLabelValues(name, o))
	}
	return rt
}

// BytesUp counts n bytes written to the upstream.
func (rt *Route) BytesUp(n int) {
	if rt != nil && n > 0 {
		rt.bytesUp.Add(float64(n))
	}
}

// BytesDown counts n bytes written to the client.
func (rt *Route) BytesDown(n int) {
	if rt != nil && n > 0 {
		rt.bytesDown.Add(float64(n))
	}
}

// Command counts a client command by its verb (upper case, as codec.Command.Verb has it); a
// verb outside Verbs, or "", counts as "other".
func (rt *Route) Command(verb string) {
	if rt == nil {
		return
	}
	rt.verbs[verbIndex(verb)].Inc()
}

// verbIndex returns the index of verb in Verbs, or len(Verbs) ("other").
func verbIndex(verb string) int {
	for i, v := range Verbs {
		if v == verb {
			return i
		}
	}
	return len(Verbs)
}

// Reply counts a status line.
func (rt *Route) Reply(s Status) {
	if rt == nil || s < 0 || s >= numStatus {
		return
	}
	rt.replies[s].Inc()
}

// Login counts the server's answer to a login: verb is the command answered ("PASS", "APOP"
// or "AUTH"), arg its argument (for AUTH, the mechanism comes first; the rest, which may be a
// secret initial response, is not looked at beyond it), ok whether the answer was +OK. Other
// verbs, and AUTH without a mechanism (the mechanism listing), count nothing.
func (rt *Route) Login(verb, arg string, ok bool) {
	if rt == nil {
		return
	}
	m := -1
	switch verb {
	case "PASS":
		m = 0
	case "APOP":
		m = 1
	case "AUTH":
		mech, _, _ := strings.Cut(arg, " ")
		if mech == "" {
			return
		}
		m = mechOther
		for i, name := range Mechanisms[2:mechOther] {
			if strings.EqualFold(mech, name) {
				m = i + 2
				break
			}
		}
	default:
		return
	}
	outcome := 1
	if ok {
		outcome = 0
	}
	rt.logins[m][outcome].Inc()
}

// TLSFailure counts a failed handshake on leg; err is the handshake's error (see TLSReason).
func (rt *Route) TLSFailure(leg Leg, err error) {
	if rt == nil || leg < 0 || leg >= numLeg {
		return
	}
	rt.tlsFailures[leg][classifyTLS(err)].Inc()
}

// UpstreamDial observes the TCP connect time and, when the leg has TLS (handshake > 0), the TLS
// time of one upstream dial.
func (rt *Route) UpstreamDial(connect, handshake time.Duration) {
	if rt == nil {
		return
	}
	rt.connect.Observe(connect.Seconds())
	if handshake > 0 {
		rt.handshake.Observe(handshake.Seconds())
	}
}

// Refused counts a policy refusal of kind k.
func (rt *Route) Refused(k Refusal) {
	if rt == nil || k < 0 || k >= numRefusal {
		return
	}
	rt.refusals[k].Inc()
}

// RefreshOutcome counts an OAuth token refresh that ended with outcome, one of RefreshOutcomes
// (anything else counts as "other"); it fits an OnRefresh func(outcome string) hook.
func (rt *Route) RefreshOutcome(outcome string) {
	if rt == nil {
		return
	}
	i := len(RefreshOutcomes) - 1
	for j, o := range RefreshOutcomes {
		if o == outcome {
			i = j
			break
		}
	}
	rt.refreshes[i].Inc()
}
