package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/popserver"
	"github.com/popwire/popwire/internal/proxy"
)

// Demo account on the embedded server.
const (
	demoUser     = "demo"
	demoPassword = "demo"
)

// demoCommand runs the embedded POP3 server with popwire in front of it.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:         "demo",
		Usage:        "run an embedded POP3 server (user demo, password demo) with popwire in front of it, and show the live transcript",
		OnUsageError: onUsageError,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:1110", Usage: "popwire's plaintext listener (STLS offered)"},
			&cli.StringFlag{Name: "listen-tls", Value: "127.0.0.1:1995", Usage: "popwire's implicit-TLS listener"},
			&cli.StringSliceFlag{Name: "deny", Usage: "answer these commands locally with -ERR (CMD[,CMD]), to try the policy"},
			&cli.BoolFlag{Name: "oauth", Usage: "show the OAuth bridge offline: log in with USER demo / PASS demo, popwire logs in upstream with AUTH XOAUTH2 and a demo token"},
		}, logFlags()...),
		Action: demo,
	}
}

func demo(c *cli.Context) error {
	if err := noArguments(c); err != nil {
		return err
	}
	if c.String("listen") == "" || c.String("listen-tls") == "" {
		return usagef("demo needs both --listen and --listen-tls")
	}
	// The embedded server gets a throw-away CA of its own, so that popwire verifies the
	// upstream exactly as it would verify Gmail's.
	tmp, err := os.MkdirTemp("", "popwire-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	upCert, err := proxy.LoadOrCreateLocalCert(filepath.Join(tmp, "upstream"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(upCert.CAPEM)

	store := &popserver.Store{}
	if err := store.Put(demoUser, popserver.SampleMailbox()...); err != nil {
		return err
	}
	upstream := &popserver.Server{
		Users:     map[string]string{demoUser: demoPassword},
		Store:     store,
		Greeting:  "popwire demo server ready.",
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{upCert.Certificate}, MinVersion: tls.VersionTLS12},
	}
	var src *demoSource
	if c.Bool("oauth") {
		// Like Microsoft's and Google's servers, the embedded one then takes only a bearer
		// token, and XOAUTH2 only in the two-step form.
		if src, err = newDemoSource(); err != nil {
			return err
		}
		upstream.Users = nil
		upstream.CheckToken = src.check
		upstream.TokenScope = demoScope
		upstream.RejectInitialXOAUTH2 = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	upErr := make(chan error, 1)
	go serveDemoUpstream(upstream, tls.NewListener(ln, upstream.TLSConfig), upErr)
	defer upstream.Close()

	cfg, err := demoConfig(c, ln.Addr().String(), roots)
	if err != nil {
		return err
	}
	if src != nil {
		cfg.OAuth = src
	}
	ca, err := localCA()
	if err != nil {
		return err
	}
	if src != nil {
		fmt.Fprintf(c.App.Writer, demoOAuthHelp, demoUser, demoPassword)
	}
	printDemoHelp(c.App.Writer, cfg, ca)
	if err := runProxy(c, cfg, 5*time.Second, upErr); err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, "demo stopped")
	return nil
}

// demoScope is the scope of the demo's access token.
const demoScope = "https://popwire.invalid/pop"

// demoOAuthHelp is what `demo --oauth` prints before the usual instructions.
const demoOAuthHelp = `OAuth bridge (--oauth): the embedded server takes only a bearer token (AUTH XOAUTH2, two-step
form only, as Microsoft's servers do). Log in to popwire as usual, with USER %s and PASS %s:
the demo's token source takes that one local password (any other is refused, to show the
error), hands popwire a fresh demo access token at once, and popwire logs in upstream with it.

`

// demoSource is the demo's oauth.Source: it approves account demo with the local password
// demo at once, with a token made for this run; any other account has no token, any other
// password is wrong. Safe for concurrent use: it is read-only after newDemoSource.
type demoSource struct {
	token string
}

// newDemoSource returns a demoSource with a random token.
func newDemoSource() (*demoSource, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("demo: token: %w", err)
	}
	return &demoSource{token: "demo-" + base64.RawURLEncoding.EncodeToString(b)}, nil
}

// Token gives the demo token for demo/demo.
func (d *demoSource) Token(_ context.Context, account, password string) (oauth.Access, error) {
	switch {
	case account != demoUser:
		return oauth.Access{}, fmt.Errorf("demo: %w (the demo has only the account %s)", oauth.ErrNoToken, demoUser)
	case subtle.ConstantTimeCompare([]byte(password), []byte(demoPassword)) != 1:
		return oauth.Access{}, fmt.Errorf("demo: %w", oauth.ErrWrongPassword)
	}
	return oauth.Access{Token: d.token, Scope: demoScope, Expiry: time.Now().Add(time.Hour)}, nil
}

// check is the embedded server's token check.
func (d *demoSource) check(user, token string) bool {
	return user == demoUser && subtle.ConstantTimeCompare([]byte(token), []byte(d.token)) == 1
}

// serveDemoUpstream runs the embedded server and reports an unexpected end.
func serveDemoUpstream(s *popserver.Server, l net.Listener, errc chan<- error) {
	if err := s.Serve(l); !errors.Is(err, popserver.ErrServerClosed) {
		errc <- fmt.Errorf("demo server: %w", err)
	}
}

// demoConfig is the proxy configuration of the demo: popwire's own listeners and local
// certificate in front of the embedded server.
func demoConfig(c *cli.Context, upstream string, roots *x509.CertPool) (proxy.Config, error) {
	return withSharedFlags(c, proxy.Config{
		Listen:        c.String("listen"),
		ListenTLS:     c.String("listen-tls"),
		Upstream:      upstream,
		UpstreamName:  "localhost",
		UpstreamRoots: roots,
	})
}

// printDemoHelp tells the user what to try against the demo.
func printDemoHelp(w io.Writer, cfg proxy.Config, ca *proxy.LocalCert) {
	plainHost, plainPort, _ := net.SplitHostPort(cfg.Listen)
	tlsHost, tlsPort, _ := net.SplitHostPort(cfg.ListenTLS)
	fmt.Fprintf(w, `popwire demo: an embedded POP3 server (%d sample messages, user %s, password %s)
behind popwire on %s (plaintext, STLS offered) and %s (implicit TLS).
Every command and reply appears below, with credentials redacted. Try, in another terminal:

  curl pop3://%s:%s@%s/                      # list the messages
  curl pop3://%s:%s@%s/1                     # fetch message 1
  curl --cacert %s pop3s://%s:%s@%s/2
  python3 -c 'import poplib, ssl; p = poplib.POP3(%q, %s); p.stls(ssl.create_default_context(cafile=%q)); p.user(%q); p.pass_(%q); print(p.stat()); p.quit()'
  openssl s_client -quiet -CAfile %s -connect %s      # then type CAPA, USER demo, PASS demo, LIST, RETR 1, QUIT

The local CA is %s (SHA-256 %s).
Ctrl-C stops the demo; QUIT in a session commits its DELEs on the demo server until then.

`,
		len(popserver.SampleMailbox()), demoUser, demoPassword, cfg.Listen, cfg.ListenTLS,
		demoUser, demoPassword, cfg.Listen,
		demoUser, demoPassword, cfg.Listen,
		ca.CAFile, demoUser, demoPassword, cfg.ListenTLS,
		plainHost, plainPort, ca.CAFile, demoUser, demoPassword,
		ca.CAFile, net.JoinHostPort(tlsHost, tlsPort),
		ca.CAFile, ca.Fingerprint)
}
