package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/popclient"
)

// DefaultTimeout bounds each step when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options says what to probe. The zero value probes pop.gmail.com:995 over verified
// implicit TLS without logging in.
type Options struct {
	Addr               string         // HOST:PORT; "" means popclient.DefaultUpstream
	StartTLS           bool           // plaintext greeting, then STLS (RFC 2595 §4); false: implicit TLS
	ServerName         string         // SNI and verification name; "" means the host of Addr
	RootCAs            *x509.CertPool // nil: the system pool
	InsecureSkipVerify bool           // do not fail on the certificate (the report says whether it would verify)
	User               string         // "" skips the login and STAT
	Password           string         // never appears in the Report
	Auth               string         // "user" (USER/PASS), "plain" (AUTH PLAIN), or "" to pick from CAPA
	Timeout            time.Duration  // bound on each step; 0 means DefaultTimeout
	Resolver           *net.Resolver  // nil: net.DefaultResolver
	// OAuth, when set, makes the login an OAuth one: the access token for User comes from
	// it (Password is the local password that unlocks it), and the probe logs in with
	// the token's mechanism (Access.Mechanism) or OAuthMechanism, in the two-step form. The
	// token never appears in the Report.
	OAuth          oauth.Source
	OAuthMechanism *oauth.Mechanism // nil: the token's
}

// prober runs the steps of one probe.
type prober struct {
	o      Options
	d      *popclient.Dialer
	r      *Report
	c      *popclient.Conn
	caps   capabilities
	broken bool // the session cannot go on: no QUIT
	// secrets are the forms of the access token the OAuth login sent, scrubbed from the
	// Report with the password's.
	secrets []string
}

// Run probes the server o describes and returns the report; it never returns nil. Every step
// is bounded by o.Timeout, and ctx bounds them all.
func Run(ctx context.Context, o Options) *Report {
	if o.Addr == "" {
		o.Addr = popclient.DefaultUpstream
	}
	mode := popclient.UpstreamImplicitTLS
	if o.StartTLS {
		mode = popclient.UpstreamSTARTTLS
	}
	p := &prober{
		o: o,
		d: &popclient.Dialer{Addr: o.Addr, Mode: mode, ServerName: o.ServerName, RootCAs: o.RootCAs,
			InsecureSkipVerify: o.InsecureSkipVerify, Resolver: o.Resolver},
		r: &Report{Addr: o.Addr, Mode: mode.String()},
	}
	p.run(ctx)
	if p.c != nil {
		p.c.Close()
	}
	p.r.finish(append(secretsOf(o.User, o.Password), p.secrets...))
	return p.r
}

// step returns a context bounding one step.
func (p *prober) step(ctx context.Context) (context.Context, context.CancelFunc) {
	t := p.o.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return context.WithTimeout(ctx, t)
}

func (p *prober) run(ctx context.Context) {
	addrs, ok := p.resolve(ctx)
	if !ok {
		return
	}
	raw, ok := p.connect(ctx, addrs)
	if !ok {
		return
	}
	if p.o.StartTLS {
		p.c = popclient.New(raw)
		if !p.greeting(ctx) || !p.startTLS(ctx) {
			p.quit(ctx)
			return
		}
	} else {
		tc, ok := p.handshake(ctx, raw, false)
		if !ok {
			raw.Close()
			return
		}
		p.c = popclient.New(tc)
		if !p.greeting(ctx) {
			return
		}
	}
	if p.capa(ctx) && p.o.User != "" && p.login(ctx) {
		p.stat(ctx)
	}
	p.quit(ctx)
}

func (p *prober) resolve(ctx context.Context) ([]string, bool) {
	start := time.Now()
	host, _, err := net.SplitHostPort(p.o.Addr)
	if err != nil {
		s := p.r.add(StepDNS, start, false)
		s.Summary, s.Error = "no host to look up", err.Error()
		s.Hint = "give the server as HOST:PORT, e.g. pop.gmail.com:995"
		return nil, false
	}
	sctx, cancel := p.step(ctx)
	defer cancel()
	addrs, err := p.d.Resolve(sctx)
	if err != nil {
		s := p.r.add(StepDNS, start, false)
		s.Summary, s.Error, s.Hint = "cannot resolve "+host, err.Error(), dnsHint(host, err)
		return nil, false
	}
	s := p.r.add(StepDNS, start, true)
	s.Summary = fmt.Sprintf("%s → %s", host, strings.Join(addrs, ", "))
	return addrs, true
}

func (p *prober) connect(ctx context.Context, addrs []string) (net.Conn, bool) {
	start := time.Now()
	sctx, cancel := p.step(ctx)
	defer cancel()
	raw, err := p.d.Connect(sctx, addrs)
	if err != nil {
		host, port, _ := net.SplitHostPort(p.o.Addr)
		s := p.r.add(StepConnect, start, false)
		s.Summary, s.Error, s.Hint = "cannot connect to "+p.o.Addr, err.Error(), connectHint(host, port, err)
		return nil, false
	}
	s := p.r.add(StepConnect, start, true)
	s.Summary = "connected to " + raw.RemoteAddr().String()
	return raw, true
}

// handshake runs the TLS step on conn.
func (p *prober) handshake(ctx context.Context, conn net.Conn, starttls bool) (*tls.Conn, bool) {
	start := time.Now()
	sctx, cancel := p.step(ctx)
	defer cancel()
	name := p.d.TLSConfig().ServerName
	tc, err := p.d.Handshake(sctx, conn)
	if err != nil {
		s := p.r.add(StepTLS, start, false)
		s.Summary = fmt.Sprintf("TLS handshake failed (SNI %s)", sniSent(name))
		s.Error, s.Hint = err.Error(), handshakeHint(err, name, starttls)
		s.Details = failedCertDetails(err, time.Now())
		return nil, false
	}
	st := tc.ConnectionState()
	verified, hint := "certificate verified", ""
	if p.o.InsecureSkipVerify {
		verified = "certificate NOT verified (--insecure-skip-verify)"
		if verr := p.d.VerifyAnyway(st.PeerCertificates); verr != nil {
			hint = "verification is off; with it on the handshake would fail: " + handshakeHint(verr, name, starttls)
		} else {
			hint = "verification is off, but the certificate would verify: drop --insecure-skip-verify"
		}
	}
	s := p.r.add(StepTLS, start, true)
	s.Summary = tlsSummary(&st, name, verified)
	s.Details = chainDetails(st.PeerCertificates, time.Now())
	s.Hint = hint
	return tc, true
}

func (p *prober) greeting(ctx context.Context) bool {
	start := time.Now()
	sctx, cancel := p.step(ctx)
	defer cancel()
	g, err := p.c.Read(sctx)
	if err != nil {
		p.broken = true
		s := p.r.add(StepGreeting, start, false)
		s.Summary, s.Error, s.Hint = "no POP3 greeting", err.Error(), greetingHint(err, p.o.StartTLS)
		return false
	}
	if !g.OK() {
		p.broken = true
		s := p.r.add(StepGreeting, start, false)
		s.Summary, s.Error = g.Line, "the server refused the session"
		s.Hint = replyHint(g.Reply, "", "")
		return false
	}
	s := p.r.add(StepGreeting, start, true)
	s.Summary = g.Line
	if g.Timestamp != "" {
		s.Details = []string{"APOP timestamp present: " + g.Timestamp + " (APOP login possible)"}
	} else {
		s.Details = []string{"no APOP timestamp: APOP login is not offered"}
	}
	return true
}

// errHandshake stands for a handshake failure already reported as the TLS step.
var errHandshake = errors.New("probe: TLS handshake failed")

func (p *prober) startTLS(ctx context.Context) bool {
	start := time.Now()
	sctx, cancel := p.step(ctx)
	r, err := p.c.Do(sctx, "STLS")
	cancel()
	switch {
	case err != nil:
		p.broken = true
		s := p.r.add(StepSTLS, start, false)
		s.Summary, s.Error = "no answer to STLS", err.Error()
		s.Hint = "the server did not complete the STLS exchange: it may not support STLS, or something on the path interferes"
		return false
	case r.Kind != popclient.PartTLS:
		s := p.r.add(StepSTLS, start, false)
		s.Summary, s.Error, s.Hint = r.Line, "the server refused STLS", replyHint(r.Reply, "STLS", "")
		return false
	}
	s := p.r.add(StepSTLS, start, true)
	s.Summary = r.Line
	err = p.c.Upgrade(func(nc net.Conn) (net.Conn, error) {
		tc, ok := p.handshake(ctx, nc, true)
		if !ok {
			return nil, errHandshake
		}
		return tc, nil
	})
	if err != nil {
		p.broken = true
		return false
	}
	return true
}

func (p *prober) capa(ctx context.Context) bool {
	start := time.Now()
	sctx, cancel := p.step(ctx)
	defer cancel()
	r, err := p.c.Do(sctx, "CAPA")
	if err != nil {
		p.broken = true
		s := p.r.add(StepCAPA, start, false)
		s.Summary, s.Error = "no answer to CAPA", err.Error()
		return false
	}
	s := p.r.add(StepCAPA, start, true)
	if !r.OK() {
		s.Summary = "no CAPA: " + r.Line
		s.Hint = "the server predates RFC 2449 and does not list its capabilities; USER/PASS is tried"
		p.caps.user = true
		return true
	}
	s.Summary = fmt.Sprintf("%d capabilities", len(r.List))
	for _, l := range r.List {
		s.Details = append(s.Details, explainCapa(l))
	}
	p.caps = parseCapa(r.List)
	return true
}

func (p *prober) login(ctx context.Context) bool {
	if p.o.OAuth != nil {
		return p.oauthLogin(ctx)
	}
	start := time.Now()
	sctx, cancel := p.step(ctx)
	defer cancel()
	method := p.o.Auth
	if method == "" {
		method = "user"
		if p.caps.plain {
			method = "plain"
		}
	}
	var r *popclient.Reply
	var err error
	verb := "PASS"
	if method == "plain" {
		verb = "AUTH"
		r, err = p.c.Do(sctx, "AUTH PLAIN "+plainResponse(p.o.User, p.o.Password))
		if err == nil && r.Kind == popclient.PartChallenge {
			r, err = p.c.Do(sctx, "*")
		}
	} else {
		r, err = p.c.Do(sctx, "USER "+p.o.User)
		if err == nil && r.OK() {
			r, err = p.c.Do(sctx, "PASS "+p.o.Password)
		} else {
			verb = "USER"
		}
	}
	how := map[string]string{"plain": "AUTH PLAIN", "user": "USER/PASS"}[method]
	if err != nil {
		p.broken = true
		s := p.r.add(StepLogin, start, false)
		s.Summary, s.Error = "login with "+how+" got no answer", err.Error()
		return false
	}
	if !r.OK() {
		s := p.r.add(StepLogin, start, false)
		s.Summary, s.Error = fmt.Sprintf("login as %s with %s failed", p.o.User, how), r.Line
		s.Hint = replyHint(r.Reply, verb, p.caps.loginDelay)
		return false
	}
	s := p.r.add(StepLogin, start, true)
	s.Summary = fmt.Sprintf("logged in as %s with %s: %s", p.o.User, how, r.Line)
	return true
}

func (p *prober) stat(ctx context.Context) {
	start := time.Now()
	sctx, cancel := p.step(ctx)
	defer cancel()
	r, err := p.c.Do(sctx, "STAT")
	if err != nil {
		p.broken = true
		s := p.r.add(StepSTAT, start, false)
		s.Summary, s.Error = "no answer to STAT", err.Error()
		return
	}
	if !r.OK() {
		s := p.r.add(StepSTAT, start, false)
		s.Summary, s.Error, s.Hint = "STAT failed", r.Line, replyHint(r.Reply, "STAT", "")
		return
	}
	s := p.r.add(StepSTAT, start, true)
	s.Summary = r.Line
	if f := strings.Fields(r.Text); len(f) >= 2 {
		s.Summary = fmt.Sprintf("%s messages, %s octets", f[0], f[1])
	}
}

// quit ends the session with QUIT unless it is broken. The probe sent no DELE, so QUIT
// commits nothing (RFC 1939 §6).
func (p *prober) quit(ctx context.Context) {
	if p.broken || p.c == nil {
		return
	}
	start := time.Now()
	sctx, cancel := p.step(ctx)
	defer cancel()
	r, err := p.c.Do(sctx, "QUIT")
	if err != nil {
		s := p.r.add(StepQUIT, start, false)
		s.Summary, s.Error = "no answer to QUIT", err.Error()
		return
	}
	s := p.r.add(StepQUIT, start, r.OK())
	s.Summary = r.Line
	if !r.OK() {
		s.Error = "the server refused QUIT"
	}
}
