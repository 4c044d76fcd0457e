package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/popwire/popwire/internal/config"
	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/metrics"
	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/proxy"
)

// routeSet serves the routes of a configuration file: one proxy.Server per route, fed from
// sockets the set owns (sharedPort), so that a reload (SIGHUP) can replace every server while
// an unchanged listener stays open. A replaced server stops accepting and lets its sessions
// finish on the settings they started with.
type routeSet struct {
	path   string
	sink   logview.Sink // nil: nothing is logged
	keyLog io.Writer    // nil: no --keylog
	// logBase is the log options every route starts from (what the process's outputs need);
	// the route then sets Bodies and HideUsers.
	logBase proxy.LogOptions
	metrics *metrics.Registry // nil: nothing is counted; every route counts into it by name

	reloads chan struct{} // requests for reloadOnRequest; one pending at most
	failed  chan error    // a server that ended on its own; buffered, the first one only
	done    chan struct{} // closed by Shutdown

	mu      sync.Mutex // guards everything below; held for a whole reload
	closing bool
	// tokens is the OAuth token source of each route with an oauth section, kept across
	// reloads while the route's section stays the same, so that unlocked accounts stay
	// unlocked and one account has one refresh at a time.
	tokens   map[oauthKey]*oauth.Tokens
	cfg      *config.Config
	ports    map[string]*sharedPort // open sockets by listen address
	current  []*routeServer
	retiring map[*routeServer]struct{} // replaced, finishing their sessions
}

// routeServer is the proxy.Server of one route and the handoffs it serves.
type routeServer struct {
	name     string
	srv      *proxy.Server
	handoffs []*handoff
}

// newRouteSet opens the listeners of cfg and starts its servers: an error (a certificate that
// does not load, an address in use) leaves nothing open.
func newRouteSet(cfg *config.Config, sink logview.Sink, keyLog io.Writer, logBase proxy.LogOptions, reg *metrics.Registry) (*routeSet, error) {
	s := &routeSet{path: cfg.File, sink: sink, keyLog: keyLog, logBase: logBase, metrics: reg,
		reloads: make(chan struct{}, 1), failed: make(chan error, 1), done: make(chan struct{}),
		ports: map[string]*sharedPort{}, retiring: map[*routeServer]struct{}{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.apply(cfg); err != nil {
		return nil, err
	}
	go s.reloadOnRequest()
	return s, nil
}

// ListenAndServe calls ready at once (the set serves from newRouteSet on) and waits until
// Shutdown (then it returns proxy.ErrServerClosed) or a server fails.
func (s *routeSet) ListenAndServe(ready func()) error {
	ready()
	select {
	case err := <-s.failed:
		return err
	case <-s.done:
		return proxy.ErrServerClosed
	}
}

// requestReload asks for the file to be read again and applied; requests made while one is
// pending are one request.
func (s *routeSet) requestReload() {
	select {
	case s.reloads <- struct{}{}:
	default:
	}
}

// reloadOnRequest reloads once for each request until Shutdown. It runs apart from the signal
// loop, so that a reload reading a slow file never delays a SIGTERM.
func (s *routeSet) reloadOnRequest() {
	for {
		select {
		case <-s.reloads:
			s.reload()
		case <-s.done:
			return
		}
	}
}

// reload reads the file again and applies it; a file, certificate or listener that fails is
// refused with an error event, and the running configuration keeps serving.
func (s *routeSet) reload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	cfg, err := loadConfig(s.path)
	var changes []string
	if err == nil {
		changes, err = s.apply(cfg)
	}
	if err != nil {
		s.emit(logview.Event{Kind: logview.KindError, Err: "config: reload refused, the running configuration keeps serving: " + strings.TrimPrefix(err.Error(), "config: ")})
		return
	}
	s.emit(logview.Event{Kind: logview.KindReload, Text: fmt.Sprintf("configuration reloaded from %s: %s", s.path, strings.Join(changes, "; "))})
}

// apply makes cfg the running configuration, or changes nothing and returns why not. It
// returns what changed, in words. The caller holds s.mu.
func (s *routeSet) apply(cfg *config.Config) ([]string, error) {
	next := make([]*routeServer, 0, len(cfg.Routes))
	var listeners [][]proxy.Listener // of each server in next
	opened := map[string]*sharedPort{}
	tokens := map[oauthKey]*oauth.Tokens{}
	undo := func() {
		for _, p := range opened {
			p.close()
		}
	}
	for _, r := range cfg.Routes {
		pc, err := routeConfig(cfg.File, r, s.logBase)
		if err != nil {
			undo()
			return nil, err
		}
		pc.Sink, pc.KeyLog, pc.Metrics, pc.Route = s.sink, s.keyLog, s.metrics, r.Name
		if r.OAuth != nil {
			t, mech, err := s.oauthSource(cfg.File, r, tokens)
			if err != nil {
				undo()
				return nil, err
			}
			pc.OAuth, pc.OAuthMechanism = t, mech
		}
		srv, err := proxy.New(pc)
		if err != nil {
			undo()
			return nil, &config.Error{File: cfg.File, Line: r.Line, Msg: "route " + r.Name + ": " + err.Error(), Err: err}
		}
		rs := &routeServer{name: r.Name, srv: srv}
		var ls []proxy.Listener
		for i, l := range r.Listeners {
			p := s.ports[l.Address]
			if p == nil {
				p = opened[l.Address]
			}
			if p == nil {
				if p, err = openPort(l.Address, s.emit); err != nil {
					undo()
					return nil, &config.Error{File: cfg.File, Line: l.Line, Msg: fmt.Sprintf("route %s: listen[%d]: %v", r.Name, i, err), Err: err}
				}
				opened[l.Address] = p
			}
			if !l.TLS && !l.AllowRemotePlaintext && !proxy.IsLoopback(p.ln.Addr()) {
				undo()
				return nil, &config.Error{File: cfg.File, Line: l.Line, Msg: fmt.Sprintf("route %s: plaintext listener %s is not on a loopback address: set tls: true, or allow_remote_plaintext: true", r.Name, p.ln.Addr())}
			}
			h := newHandoff(p.ln.Addr())
			rs.handoffs = append(rs.handoffs, h)
			var pp *proxy.ProxyProtocol
			if l.ProxyProtocol != nil {
				pp = &proxy.ProxyProtocol{Trusted: l.ProxyProtocol.Trusted}
			}
			ls = append(ls, proxy.Listener{Listener: h, TLS: l.TLS, AllowRemotePlaintext: l.AllowRemotePlaintext, ProxyProtocol: pp})
		}
		next = append(next, rs)
		listeners = append(listeners, ls)
	}
	// Nothing can fail from here on: start the servers, then point the sockets at them.
	for i, rs := range next {
		go s.serveRoute(rs, listeners[i])
	}
	for i, r := range cfg.Routes {
		for j, l := range r.Listeners {
			p := s.ports[l.Address]
			if p == nil {
				p = opened[l.Address]
				s.ports[l.Address] = p
			}
			p.target.Store(next[i].handoffs[j])
		}
	}
	var removed []string // open sockets cfg does not listen on
	for addr := range s.ports {
		if !slices.ContainsFunc(cfg.Routes, func(r config.Route) bool { return hasListener(r, addr) }) {
			removed = append(removed, addr)
		}
	}
	changes := s.describe(cfg, opened, removed)
	for _, addr := range removed {
		s.ports[addr].close() // its sessions go on, on their servers
		delete(s.ports, addr)
	}
	for _, rs := range s.current {
		s.retire(rs)
	}
	s.current, s.cfg, s.tokens = next, cfg, tokens
	return changes, nil
}

// oauthKey names a route's OAuth settings: a token source is kept while they stay the same.
type oauthKey struct {
	route string
	oauth config.OAuth // Line cleared
}

// oauthSource returns the token source and mechanism of route r's oauth section, the one of
// the running configuration when the section has not changed, and records it in next.
func (s *routeSet) oauthSource(path string, r config.Route, next map[oauthKey]*oauth.Tokens) (*oauth.Tokens, *oauth.Mechanism, error) {
	o := *r.OAuth
	line := o.Line
	o.Line = 0
	key := oauthKey{r.Name, o}
	var mech *oauth.Mechanism // each account's own
	if o.Mechanism != "" {
		m, err := oauth.ParseMechanism(o.Mechanism)
		if err != nil {
			return nil, nil, &config.Error{File: path, Line: line, Msg: "route " + r.Name + ": oauth.mechanism: " + err.Error(), Err: err}
		}
		mech = &m
	}
	if t := s.tokens[key]; t != nil {
		next[key] = t
		return t, mech, nil
	}
	p := &oauth.Provider{Name: o.Provider, TokenURL: o.TokenURL, ClientID: o.ClientID}
	if o.ClientSecretFile != "" {
		b, err := os.ReadFile(o.ClientSecretFile)
		if err != nil {
			return nil, nil, &config.Error{File: path, Line: line, Msg: "route " + r.Name + ": oauth.client_secret_file: " + err.Error(), Err: err}
		}
		p.ClientSecret = strings.TrimSpace(string(b))
	}
	store, err := defaultStore()
	if err != nil {
		return nil, nil, err
	}
	t := &oauth.Tokens{Store: store, Provider: p, OnRefresh: s.metrics.Route(r.Name).RefreshOutcome}
	next[key] = t
	return t, mech, nil
}

// hasListener reports whether route r listens on addr.
func hasListener(r config.Route, addr string) bool {
	return slices.ContainsFunc(r.Listeners, func(l config.Listener) bool { return l.Address == addr })
}

// serveRoute runs the server of one route on ls until it is retired or shut down; a server
// that ends otherwise ends the process (ListenAndServe returns its error).
func (s *routeSet) serveRoute(rs *routeServer, ls []proxy.Listener) {
	err := rs.srv.Serve(ls...)
	if err != nil && !errors.Is(err, proxy.ErrServerClosed) {
		select {
		case s.failed <- fmt.Errorf("route %s: %w", rs.name, err):
		default:
		}
	}
}

// retire stops rs accepting and lets its sessions finish on their settings; it is forgotten
// once they have. The caller holds s.mu.
func (s *routeSet) retire(rs *routeServer) {
	for _, h := range rs.handoffs {
		h.Close()
	}
	s.retiring[rs] = struct{}{}
	go s.finishRetired(rs)
}

// finishRetired waits for the sessions of a retired server to end, then forgets it.
func (s *routeSet) finishRetired(rs *routeServer) {
	// Without a deadline Shutdown only waits: each session ends by itself (idle and login
	// timeouts), or when the process shuts down.
	_ = rs.srv.Shutdown(context.Background())
	s.mu.Lock()
	delete(s.retiring, rs)
	s.mu.Unlock()
}

// describe says what cfg changes of the running configuration: the routes, the listeners
// opened and those removed (it sorts removed), and process-wide settings that only a restart
// applies.
func (s *routeSet) describe(cfg *config.Config, opened map[string]*sharedPort, removed []string) []string {
	var names []string
	for _, r := range cfg.Routes {
		names = append(names, r.Name)
	}
	changes := []string{"routes " + strings.Join(names, ", ")}
	var added []string
	for addr := range opened {
		added = append(added, addr)
	}
	if s.cfg == nil {
		return changes
	}
	slices.Sort(added)
	slices.Sort(removed)
	if len(added) > 0 {
		changes = append(changes, "listening on "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		changes = append(changes, "no longer listening on "+strings.Join(removed, ", ")+" (its sessions go on)")
	}
	if cfg.Log != s.cfg.Log || cfg.ShutdownTimeout != s.cfg.ShutdownTimeout || cfg.Metrics != s.cfg.Metrics {
		changes = append(changes, "log, metrics and shutdown_timeout changes take effect when popwire restarts")
	}
	return changes
}

// Shutdown stops every listener, then shuts down every server, the current and the retiring
// ones, as proxy.Server.Shutdown does (sessions have until ctx is done, then are closed).
func (s *routeSet) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
	}
	for addr, p := range s.ports {
		p.close()
		delete(s.ports, addr)
	}
	servers := slices.Clone(s.current)
	for rs := range s.retiring {
		servers = append(servers, rs)
	}
	s.mu.Unlock()
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, rs := range servers {
		wg.Go(func() { errs[i] = rs.srv.Shutdown(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// emit sends a process-level event.
func (s *routeSet) emit(e logview.Event) {
	if s.sink != nil {
		// A failing sink reports itself.
		_ = s.sink.Emit(logview.Stamp(e))
	}
}

// loadConfig reads and checks the configuration file at path.
func loadConfig(path string) (*config.Config, error) {
	return config.Load(path)
}

// routeConfig turns route r of the file path into a proxy.Config, with logOpts as the route's
// logging says, loading its client-leg certificate and upstream CAs: a file that fails to load
// is an error naming the line that names it. The caller sets what the route set shares (Sink,
// KeyLog, Metrics, Route) and the OAuth bridge.
func routeConfig(path string, r config.Route, logOpts proxy.LogOptions) (proxy.Config, error) {
	fail := func(key string, err error) error {
		return &config.Error{File: path, Line: r.Lines[key], Msg: fmt.Sprintf("route %s: %s: %v", r.Name, key, err), Err: err}
	}
	var cert *tls.Certificate
	if r.Cert != "" {
		c, err := tls.LoadX509KeyPair(r.Cert, r.Key)
		if err != nil {
			return proxy.Config{}, fail("tls.cert", err)
		}
		cert = &c
	} else {
		lc, err := localCA()
		if err != nil {
			return proxy.Config{}, err
		}
		cert = &lc.Certificate
	}
	roots, err := popclient.LoadRoots(r.UpstreamCA...)
	if err != nil {
		return proxy.Config{}, fail("upstream.ca", err)
	}
	logOpts.Bodies, logOpts.HideUsers = r.Bodies, r.HideUsers
	if r.HideUsers && logOpts.UserKey == nil {
		if logOpts.UserKey, err = userHashKey(); err != nil {
			return proxy.Config{}, err
		}
	}
	return proxy.Config{
		Upstream:                  r.Upstream,
		UpstreamMode:              r.UpstreamMode,
		InsecureUpstreamPlaintext: r.InsecurePlaintext,
		UpstreamName:              r.UpstreamName,
		UpstreamRoots:             roots,
		InsecureSkipVerify:        r.InsecureSkipVerify,
		DialTimeout:               r.DialTimeout,
		Certificate:               cert,
		LegacyTLS:                 r.LegacyTLS,
		RequireTLS:                r.RequireTLS,
		Deny:                      r.Deny,
		HandshakeTimeout:          r.HandshakeTimeout,
		IdleTimeout:               r.IdleTimeout,
		LoginTimeout:              r.LoginTimeout,
		MaxConns:                  r.MaxConns,
		MaxConnsPerIP:             r.MaxConnsPerIP,
		ProxyProtocolOut:          r.ProxyProtocolOut,
		Log:                       logOpts,
	}, nil
}
