package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/proxy"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:         "serve",
		Usage:        "proxy POP3 clients to the upstream server",
		OnUsageError: onUsageError,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", EnvVars: []string{"POPWIRE_CONFIG"},
				Usage: "read every setting, and any number of routes, from the YAML `FILE` (see popwire config example); SIGHUP reloads it; no other serve flag goes with it"},
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:1110", EnvVars: []string{"POPWIRE_LISTEN"},
				Usage: `plaintext client listener; STLS is offered with the local certificate ("" disables)`},
			&cli.StringFlag{Name: "listen-tls", EnvVars: []string{"POPWIRE_LISTEN_TLS"},
				Usage: "implicit-TLS client listener, e.g. 127.0.0.1:1995 (default off)"},
			&cli.StringFlag{Name: "upstream", Value: popclient.DefaultUpstream, EnvVars: []string{"POPWIRE_UPSTREAM"},
				Usage: "upstream POP3 server HOST:PORT"},
			&cli.StringFlag{Name: "upstream-tls", Value: "implicit", EnvVars: []string{"POPWIRE_UPSTREAM_TLS"},
				Usage: "upstream security: implicit | starttls | none (none needs --insecure-upstream-plaintext)"},
			&cli.StringSliceFlag{Name: "upstream-ca", EnvVars: []string{"POPWIRE_UPSTREAM_CA"},
				Usage: "extra PEM root certificates for verifying the upstream (added to the system roots)"},
			&cli.StringFlag{Name: "upstream-name", EnvVars: []string{"POPWIRE_UPSTREAM_NAME"},
				Usage: "SNI and certificate name of the upstream (default: the HOST of --upstream)"},
			&cli.BoolFlag{Name: "insecure-skip-verify", EnvVars: []string{"POPWIRE_INSECURE_SKIP_VERIFY"},
				Usage: "do not verify the upstream certificate (logged as a warning at start and on every session)"},
			&cli.BoolFlag{Name: "insecure-upstream-plaintext", EnvVars: []string{"POPWIRE_INSECURE_UPSTREAM_PLAINTEXT"},
				Usage: "allow --upstream-tls none: credentials cross the network in clear"},
			&cli.StringFlag{Name: "cert", EnvVars: []string{"POPWIRE_CERT"},
				Usage: "client-leg certificate (PEM); default: the local certificate, generated on first use"},
			&cli.StringFlag{Name: "key", EnvVars: []string{"POPWIRE_KEY"},
				Usage: "private key (PEM) of --cert"},
			&cli.BoolFlag{Name: "legacy-tls", EnvVars: []string{"POPWIRE_LEGACY_TLS"},
				Usage: "allow TLS 1.0/1.1 and CBC cipher suites on the client leg only (old mail clients)"},
			&cli.BoolFlag{Name: "require-tls", EnvVars: []string{"POPWIRE_REQUIRE_TLS"},
				Usage: "refuse USER/PASS/APOP/AUTH on a plaintext client leg until the client uses STLS"},
			&cli.StringSliceFlag{Name: "deny", EnvVars: []string{"POPWIRE_DENY"},
				Usage: "answer these commands locally with -ERR, e.g. --deny DELE for a read-only mailbox (CMD[,CMD])"},
			&cli.BoolFlag{Name: "allow-remote-plaintext", EnvVars: []string{"POPWIRE_ALLOW_REMOTE_PLAINTEXT"},
				Usage: "allow --listen on a non-loopback address (clients' credentials cross the network in clear)"},
			&cli.StringSliceFlag{Name: "proxy-protocol-trusted", EnvVars: []string{"POPWIRE_PROXY_PROTOCOL_TRUSTED"},
				Usage: "the listeners take clients through load balancers on these networks only (`CIDR`[,CIDR]), each connection starting with a PROXY v1/v2 header that names the client; others are refused"},
			&cli.BoolFlag{Name: "upstream-proxy-protocol", EnvVars: []string{"POPWIRE_UPSTREAM_PROXY_PROTOCOL"},
				Usage: "send the upstream a PROXY v2 header with the client's address before anything else (Dovecot: haproxy_trusted_networks)"},
			&cli.DurationFlag{Name: "idle-timeout", Value: proxy.DefaultIdleTimeout, EnvVars: []string{"POPWIRE_IDLE_TIMEOUT"},
				Usage: "close a session after this long without traffic in either direction"},
			&cli.DurationFlag{Name: "login-timeout", Value: proxy.DefaultLoginTimeout, EnvVars: []string{"POPWIRE_LOGIN_TIMEOUT"},
				Usage: "close a session whose client has not logged in this long after connecting"},
			&cli.IntFlag{Name: "max-conns", Value: proxy.DefaultMaxConns, EnvVars: []string{"POPWIRE_MAX_CONNS"},
				Usage: "maximum concurrent sessions; more clients get -ERR [SYS/TEMP] too many connections"},
			&cli.IntFlag{Name: "max-conns-per-ip", Value: proxy.DefaultMaxConnsPerIP, EnvVars: []string{"POPWIRE_MAX_CONNS_PER_IP"},
				Usage: "maximum concurrent sessions from one client address (IPv6: one /64); more get -ERR [SYS/TEMP]"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 30 * time.Second, EnvVars: []string{"POPWIRE_SHUTDOWN_TIMEOUT"},
				Usage: "on SIGINT/SIGTERM, how long sessions may finish before they are closed"},
			oauthFlag("bridge logins to OAuth: clients log in with USER/PASS (or AUTH PLAIN/LOGIN) as an account authorised with popwire auth login for this `PROVIDER` (google, microsoft or a custom name) and its local password; popwire logs in upstream with the account's token (XOAUTH2 or OAUTHBEARER)"),
		}, append(append(metricsFlags(), oauthRefreshFlags()...), logFlags()...)...),
		Action: serve,
	}
}

// serveConfig turns the serve flags into a proxy.Config.
func serveConfig(c *cli.Context) (proxy.Config, error) {
	if err := noArguments(c); err != nil {
		return proxy.Config{}, err
	}
	mode, err := popclient.ParseUpstreamMode(c.String("upstream-tls"))
	if err != nil {
		return proxy.Config{}, usageError{err}
	}
	if mode == popclient.UpstreamPlaintext && !c.Bool("insecure-upstream-plaintext") {
		return proxy.Config{}, usagef("--upstream-tls none needs --insecure-upstream-plaintext")
	}
	if c.String("listen") == "" && c.String("listen-tls") == "" {
		return proxy.Config{}, usagef("--listen and --listen-tls are both empty: nothing to serve")
	}
	if c.Int("max-conns") < 1 {
		return proxy.Config{}, usagef("--max-conns must be at least 1")
	}
	if c.Int("max-conns-per-ip") < 1 {
		return proxy.Config{}, usagef("--max-conns-per-ip must be at least 1")
	}
	if c.Duration("login-timeout") <= 0 {
		return proxy.Config{}, usagef("--login-timeout must be positive")
	}
	roots, err := popclient.LoadRoots(c.StringSlice("upstream-ca")...)
	if err != nil {
		return proxy.Config{}, usageError{err} // a bad --upstream-ca, as in probe and shell
	}
	var pp *proxy.ProxyProtocol
	if c.IsSet("proxy-protocol-trusted") {
		trusted, err := proxy.ParseTrusted(c.StringSlice("proxy-protocol-trusted"))
		if err != nil {
			return proxy.Config{}, usagef("--proxy-protocol-trusted: %w", err)
		}
		pp = &proxy.ProxyProtocol{Trusted: trusted}
	}
	tokens, mech, err := oauthBridge(c)
	if err != nil {
		return proxy.Config{}, err
	}
	var src oauth.Source // stays a nil interface without --oauth
	if tokens != nil {
		src = tokens
	}
	return withSharedFlags(c, proxy.Config{
		OAuth:                     src,
		OAuthMechanism:            mech,
		Listen:                    c.String("listen"),
		ListenTLS:                 c.String("listen-tls"),
		AllowRemotePlaintext:      c.Bool("allow-remote-plaintext"),
		ProxyProtocol:             pp,
		ProxyProtocolOut:          c.Bool("upstream-proxy-protocol"),
		Upstream:                  c.String("upstream"),
		UpstreamMode:              mode,
		InsecureUpstreamPlaintext: c.Bool("insecure-upstream-plaintext"),
		UpstreamName:              c.String("upstream-name"),
		UpstreamRoots:             roots,
		InsecureSkipVerify:        c.Bool("insecure-skip-verify"),
		LegacyTLS:                 c.Bool("legacy-tls"),
		RequireTLS:                c.Bool("require-tls"),
		IdleTimeout:               c.Duration("idle-timeout"),
		LoginTimeout:              c.Duration("login-timeout"),
		MaxConns:                  c.Int("max-conns"),
		MaxConnsPerIP:             c.Int("max-conns-per-ip"),
	})
}

func serve(c *cli.Context) error {
	if c.String("config") != "" {
		return serveFile(c)
	}
	cfg, err := serveConfig(c)
	if err != nil {
		return err
	}
	return runProxy(c, cfg, c.Duration("shutdown-timeout"), nil)
}
