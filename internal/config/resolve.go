package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/proxy"
)

// routeName is what a route may be called: it is a metrics label value and a log field.
var routeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// resolve checks f and merges each route's settings over the top-level defaults.
func resolve(f *file) (*Config, error) {
	cfg := &Config{ShutdownTimeout: DefaultShutdownTimeout}
	if err := resolveLog(f.Log, &cfg.Log); err != nil {
		return nil, err
	}
	if f.ShutdownTimeout.Set {
		cfg.ShutdownTimeout = time.Duration(f.ShutdownTimeout.V)
	}
	if m := f.Metrics.Listen; m.Set {
		if _, err := hostPort(m, "metrics.listen"); err != nil {
			return nil, err
		}
		cfg.Metrics.Listen = m.V
	}
	cfg.Metrics.AllowRemote = f.Metrics.AllowRemote.V
	if d := f.Metrics.DrainDelay; d.Set {
		cfg.Metrics.DrainDelay, cfg.Metrics.DrainDelaySet = time.Duration(d.V), true
	}
	if len(f.Routes) == 0 {
		return nil, &lineError{1, "no routes: the file needs a routes list, each with a name, listen and upstream (popwire config example prints one)"}
	}
	names := map[string]int{}
	for i := range f.Routes {
		r, err := resolveRoute(&f.Routes[i], &f.settings, f.Log.routeLog)
		if err != nil {
			return nil, err
		}
		if first, dup := names[r.Name]; dup {
			return nil, &lineError{f.Routes[i].Name.Line, fmt.Sprintf("route name %q is used twice (first at line %d)", r.Name, first)}
		}
		names[r.Name] = f.Routes[i].Name.Line
		cfg.Routes = append(cfg.Routes, r)
	}
	if err := checkClashes(cfg.Routes); err != nil {
		return nil, err
	}
	if cfg.Log.HideUsers && cfg.Log.RevealCredentials {
		return nil, &lineError{f.Log.RevealCredentials.Line, "log.hide_users and log.reveal_credentials contradict each other"}
	}
	for i, r := range cfg.Routes {
		if r.HideUsers && cfg.Log.RevealCredentials {
			return nil, &lineError{f.Routes[i].Log.HideUsers.Line, fmt.Sprintf("route %s: log.hide_users contradicts the top-level log.reveal_credentials", r.Name)}
		}
	}
	return cfg, nil
}

// oneOf refuses a set v whose value is not among allowed.
func oneOf(v Value[string], key string, allowed ...string) error {
	if !v.Set {
		return nil
	}
	for _, a := range allowed {
		if v.V == a {
			return nil
		}
	}
	return &lineError{v.Line, fmt.Sprintf("%s must be one of %q (found %q)", key, allowed, v.V)}
}

// resolveLog checks the top-level log section into out.
func resolveLog(l processLog, out *Log) error {
	for _, c := range []struct {
		v       Value[string]
		key     string
		allowed []string
	}{
		{l.Format, "log.format", []string{"text", "json", "none"}},
		{l.Color, "log.color", []string{"auto", "always", "never"}},
		{l.Overflow, "log.overflow", []string{string(logview.OverflowDrop), string(logview.OverflowBlock)}},
		{l.Transcript, "log.transcript", []string{string(logview.LevelSummary), string(logview.LevelReplies), string(logview.LevelFull)}},
		{l.Bodies, "log.bodies", bodiesValues},
	} {
		if err := oneOf(c.v, c.key, c.allowed...); err != nil {
			return err
		}
	}
	if b := l.BodiesBudget; b.Set {
		n, err := ParseSize(b.V)
		if err != nil {
			return &lineError{b.Line, "log.bodies_budget: " + err.Error()}
		}
		if n < 1<<20 {
			return &lineError{b.Line, fmt.Sprintf("log.bodies_budget must be at least 1MiB (found %q)", b.V)}
		}
	}
	*out = Log{
		Format: l.Format.V, Color: l.Color.V, File: l.File.V, Overflow: l.Overflow.V, Transcript: l.Transcript.V,
		BodiesBudget: l.BodiesBudget.V, RevealCredentials: l.RevealCredentials.V, Keylog: l.Keylog.V, Pcap: l.Pcap.V,
		Bodies: l.Bodies.V, HideUsers: l.HideUsers.V,
	}
	return nil
}

var bodiesValues = []string{string(proxy.BodiesNone), string(proxy.BodiesHeaders), string(proxy.BodiesFull)}

// resolveRoute checks route r and merges it over the defaults def and the top-level logging.
func resolveRoute(r *route, def *settings, log routeLog) (Route, error) {
	if !r.Name.Set {
		return Route{}, &lineError{r.line, "a route needs a name"}
	}
	if !routeName.MatchString(r.Name.V) {
		return Route{}, &lineError{r.Name.Line, fmt.Sprintf("route name %q: use lower-case letters, digits, - and _ (up to 63, a letter or digit first)", r.Name.V)}
	}
	out := Route{Name: r.Name.V, Line: r.line, Lines: map[string]int{}}
	where := "route " + r.Name.V + ": "
	if len(r.Listen) == 0 {
		return Route{}, &lineError{r.line, where + "no listen entries: give at least one {address: HOST:PORT}"}
	}
	for i := range r.Listen {
		l, err := resolveListener(&r.Listen[i], where)
		if err != nil {
			return Route{}, err
		}
		out.Lines[fmt.Sprintf("listen[%d]", i)] = l.Line
		out.Listeners = append(out.Listeners, l)
	}
	if err := resolveUpstream(r.Upstream, def.Upstream, where, &out); err != nil {
		return Route{}, err
	}
	cert, key := r.TLS.Cert.pick(def.TLS.Cert), r.TLS.Key.pick(def.TLS.Key)
	if cert.Set != key.Set {
		line := max(cert.Line, key.Line)
		return Route{}, &lineError{line, where + "tls.cert and tls.key go together"}
	}
	out.Cert, out.Key, out.LegacyTLS = cert.V, key.V, r.TLS.Legacy.or(def.TLS.Legacy, false)
	out.Lines["tls.cert"], out.Lines["tls.key"] = cert.Line, key.Line
	if deny := r.Policy.Deny.pick(def.Policy.Deny); deny.Set {
		verbs, err := proxy.ParseDeny(deny.V)
		if err != nil {
			return Route{}, &lineError{deny.Line, where + "policy.deny: " + err.Error()}
		}
		out.Deny = verbs
	}
	out.RequireTLS = r.Policy.RequireTLS.or(def.Policy.RequireTLS, false)
	if err := resolveLimits(r.Limits, def.Limits, where, &out); err != nil {
		return Route{}, err
	}
	bodies := r.Log.Bodies.pick(log.Bodies)
	if err := oneOf(bodies, "log.bodies", bodiesValues...); err != nil {
		return Route{}, err
	}
	out.Bodies = proxy.Bodies(bodies.V)
	out.HideUsers = r.Log.HideUsers.or(log.HideUsers, false)
	o := r.OAuth
	if !o.present() {
		o = def.OAuth // a route's section replaces the default one whole
	}
	oa, err := resolveOAuth(o, where)
	if err != nil {
		return Route{}, err
	}
	out.OAuth = oa
	return out, nil
}

// resolveListener checks one listen entry.
func resolveListener(l *listener, where string) (Listener, error) {
	if !l.Address.Set {
		return Listener{}, &lineError{l.line, where + "a listen entry needs an address (HOST:PORT)"}
	}
	ap, err := hostPort(l.Address, "listen.address")
	if err != nil {
		return Listener{}, err
	}
	out := Listener{Address: ap, TLS: l.TLS.V, AllowRemotePlaintext: l.AllowRemotePlaintext.V, Line: l.Address.Line}
	if !out.TLS && !out.AllowRemotePlaintext && !loopbackHost(ap) {
		return Listener{}, &lineError{l.Address.Line, where + fmt.Sprintf("plaintext listener %s is not on a loopback address: clients' credentials would cross the network in clear; set tls: true, or allow_remote_plaintext: true to accept that", ap)}
	}
	pp := l.ProxyProtocol
	if pp.Trusted.Set {
		if len(pp.Trusted.V) == 0 {
			return Listener{}, &lineError{pp.Trusted.Line, where + "proxy_protocol needs trusted: [CIDR, …], the load balancers' networks"}
		}
		out.ProxyProtocol = &ProxyProtocol{Line: pp.Trusted.Line}
		for _, s := range pp.Trusted.V {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return Listener{}, &lineError{pp.Trusted.Line, fmt.Sprintf("%sproxy_protocol.trusted: %q is not a network in CIDR notation, such as 10.0.0.0/8", where, s)}
			}
			out.ProxyProtocol.Trusted = append(out.ProxyProtocol.Trusted, p.Masked())
		}
	}
	return out, nil
}

// hostPort checks that v is HOST:PORT with a port from 1 to 65535, and returns it.
func hostPort(v Value[string], key string) (string, error) {
	host, port, err := net.SplitHostPort(v.V)
	if err != nil {
		return "", &lineError{v.Line, fmt.Sprintf("%s %q: want HOST:PORT, such as 127.0.0.1:1110", key, v.V)}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", &lineError{v.Line, fmt.Sprintf("%s %q: the port must be a number from 1 to 65535", key, v.V)}
	}
	return net.JoinHostPort(host, port), nil
}

// loopbackHost reports whether the host of HOST:PORT addr is a loopback address or localhost.
func loopbackHost(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// resolveUpstream merges the upstream section u over def into out.
func resolveUpstream(u, def upstream, where string, out *Route) error {
	addr := u.Address.pick(def.Address)
	if !addr.Set {
		return &lineError{out.Line, where + "no upstream.address (HOST:PORT of the POP3 server)"}
	}
	a, err := hostPort(addr, "upstream.address")
	if err != nil {
		return err
	}
	out.Upstream = a
	mode := u.TLS.pick(def.TLS)
	out.UpstreamMode = popclient.UpstreamImplicitTLS
	if mode.Set {
		if out.UpstreamMode, err = popclient.ParseUpstreamMode(mode.V); err != nil {
			return &lineError{mode.Line, fmt.Sprintf("%supstream.tls must be implicit, starttls or none (found %q)", where, mode.V)}
		}
	}
	out.InsecurePlaintext = u.InsecurePlaintext.or(def.InsecurePlaintext, false)
	if out.UpstreamMode == popclient.UpstreamPlaintext && !out.InsecurePlaintext {
		return &lineError{mode.Line, where + "upstream.tls: none needs upstream.insecure_plaintext: true (credentials cross the network in clear)"}
	}
	ca := u.CA.pick(def.CA)
	out.UpstreamCA, out.Lines["upstream.ca"] = ca.V, ca.Line
	out.UpstreamName = u.Name.or(def.Name, "")
	out.InsecureSkipVerify = u.InsecureSkipVerify.or(def.InsecureSkipVerify, false)
	dial := u.DialTimeout.pick(def.DialTimeout)
	if dial.Set && dial.V == 0 {
		return &lineError{dial.Line, where + "upstream.dial_timeout must be positive"}
	}
	out.DialTimeout = time.Duration(dial.V)
	pp := u.ProxyProtocol.pick(def.ProxyProtocol)
	if err := oneOf(pp, "upstream.proxy_protocol", "v2"); err != nil {
		return err
	}
	out.ProxyProtocolOut, out.Lines["upstream.proxy_protocol"] = pp.Set, pp.Line
	return nil
}

// resolveLimits merges the limits l over def into out.
func resolveLimits(l, def limits, where string, out *Route) error {
	for _, d := range []struct {
		v   Value[Duration]
		key string
		to  *time.Duration
	}{
		{l.IdleTimeout.pick(def.IdleTimeout), "limits.idle_timeout", &out.IdleTimeout},
		{l.LoginTimeout.pick(def.LoginTimeout), "limits.login_timeout", &out.LoginTimeout},
		{l.HandshakeTimeout.pick(def.HandshakeTimeout), "limits.handshake_timeout", &out.HandshakeTimeout},
	} {
		if d.v.Set && d.v.V == 0 {
			return &lineError{d.v.Line, where + d.key + " must be positive"}
		}
		*d.to = time.Duration(d.v.V)
	}
	for _, n := range []struct {
		v   Value[int]
		key string
		to  *int
	}{
		{l.MaxConns.pick(def.MaxConns), "limits.max_conns", &out.MaxConns},
		{l.MaxConnsPerIP.pick(def.MaxConnsPerIP), "limits.max_conns_per_ip", &out.MaxConnsPerIP},
	} {
		if n.v.Set && n.v.V < 1 {
			return &lineError{n.v.Line, fmt.Sprintf("%s%s must be at least 1 (found %d)", where, n.key, n.v.V)}
		}
		*n.to = n.v.V
	}
	return nil
}

// providerRE is what a provider may be called: google, microsoft or a custom provider's name
// as popwire auth login --provider takes it.
var providerRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// present reports whether the file sets any key of the oauth section o.
func (o oauth) present() bool {
	return o.Provider.Set || o.ClientID.Set || o.ClientSecret.Set || o.TokenURL.Set || o.Mechanism.Set
}

// resolveOAuth checks an oauth section; nil when it is absent.
func resolveOAuth(o oauth, where string) (*OAuth, error) {
	if !o.present() {
		return nil, nil
	}
	if !o.Provider.Set {
		return nil, &lineError{o.line, where + "oauth needs provider: google, microsoft, or the name given to popwire auth login --provider"}
	}
	if !providerRE.MatchString(o.Provider.V) {
		return nil, &lineError{o.Provider.Line, fmt.Sprintf("%soauth.provider %q: use google, microsoft, or a custom provider's name (lower-case letters, digits, '.', '_', '-')", where, o.Provider.V)}
	}
	if err := oneOf(o.Mechanism, "oauth.mechanism", "xoauth2", "oauthbearer"); err != nil {
		return nil, err
	}
	if u := o.TokenURL; u.Set {
		p, err := url.Parse(u.V)
		if err != nil || p.Host == "" || (p.Scheme != "https" && !(p.Scheme == "http" && loopbackHost(net.JoinHostPort(p.Hostname(), "0")))) {
			return nil, &lineError{u.Line, fmt.Sprintf("%soauth.token_url %q: want an https:// URL (or http:// on loopback, for tests)", where, u.V)}
		}
	}
	return &OAuth{Provider: o.Provider.V, Mechanism: o.Mechanism.V, TokenURL: o.TokenURL.V, ClientID: o.ClientID.V,
		ClientSecretFile: o.ClientSecret.V, Line: o.line}, nil
}
