// Command popwire is a transparent POP3 TLS proxy and traffic inspector.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/termtext"
	"github.com/popwire/popwire/proxy"
)

// version is the release version; set it with -ldflags "-X main.version=v1.2.3". When empty,
// the module version from the build information is used.
var version string

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// usageError marks a command-line mistake: exit status 2.
type usageError struct{ error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// run runs the app and returns the exit status: 0 success, 1 runtime failure, 2 usage error.
// Every failure prints one line on stderr, sanitised by termtext.Append: an error may quote
// what a server sent, such as its certificate's issuer.
func run(args []string, stdout, stderr io.Writer) int {
	err := runApp(newApp(stdout, stderr), args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "popwire: %s\n", termtext.Append(nil, err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// runApp runs app with args (the program name, then its arguments), flags first wherever they
// were typed (see flagsFirst), every other word an argument (see noHelpSubcommands); an
// unknown command is a usage error.
func runApp(app *cli.App, args []string) error {
	var unknown string
	app.CommandNotFound = func(_ *cli.Context, name string) { unknown = name }
	noHelpSubcommands(app.Commands)
	if len(args) > 1 {
		rest, err := flagsFirst(app.Flags, app.Commands, args[1:])
		if err != nil {
			return err
		}
		args = append(args[:1:1], rest...)
	}
	if err := app.Run(args); err != nil {
		return err
	}
	if unknown != "" {
		return usagef("unknown command %q (see popwire --help)", unknown)
	}
	return nil
}

func newApp(stdout, stderr io.Writer) *cli.App {
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintf(c.App.Writer, "popwire %s\n", c.App.Version) }
	return &cli.App{
		Name:           "popwire",
		Usage:          "transparent POP3 TLS proxy and traffic inspector",
		Version:        versionString(),
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		Commands:       []*cli.Command{serveCommand(), demoCommand(), viewCommand(), probeCommand(), shellCommand(), certCommand()},
	}
}

// onUsageError turns a flag parsing error into a usageError (one line, exit status 2).
func onUsageError(_ *cli.Context, err error, _ bool) error {
	return usageError{err}
}

// versionString returns the version and the VCS commit the binary was built from.
func versionString() string {
	v := version
	bi, ok := debug.ReadBuildInfo()
	if v == "" && ok {
		v = bi.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	if !ok {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev == "" {
		return v
	}
	return fmt.Sprintf("%s (commit %s%s)", v, rev, modified)
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:         "serve",
		Usage:        "proxy POP3 clients to the upstream server",
		OnUsageError: onUsageError,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:1110", EnvVars: []string{"POPWIRE_LISTEN"},
				Usage: `plaintext client listener; STLS is offered with the local certificate ("" disables)`},
			&cli.StringFlag{Name: "listen-tls", EnvVars: []string{"POPWIRE_LISTEN_TLS"},
				Usage: "implicit-TLS client listener, e.g. 127.0.0.1:1995 (default off)"},
			&cli.StringFlag{Name: "upstream", Value: proxy.DefaultUpstream, EnvVars: []string{"POPWIRE_UPSTREAM"},
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
		}, logFlags()...),
		Action: serve,
	}
}

// serveConfig turns the serve flags into a proxy.Config.
func serveConfig(c *cli.Context) (proxy.Config, error) {
	if c.NArg() > 0 {
		return proxy.Config{}, usagef("serve takes no arguments (got %q)", c.Args().First())
	}
	mode, err := proxy.ParseUpstreamMode(c.String("upstream-tls"))
	if err != nil {
		return proxy.Config{}, usageError{err}
	}
	if mode == proxy.UpstreamPlaintext && !c.Bool("insecure-upstream-plaintext") {
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
	deny, err := parseDeny(c.StringSlice("deny"))
	if err != nil {
		return proxy.Config{}, err
	}
	roots, err := proxy.LoadRoots(c.StringSlice("upstream-ca")...)
	if err != nil {
		return proxy.Config{}, usageError{err} // a bad --upstream-ca, as in probe and shell
	}
	cert, err := localCertificate(c)
	if err != nil {
		return proxy.Config{}, err
	}
	logOpts, err := logOptions(c)
	if err != nil {
		return proxy.Config{}, err
	}
	return proxy.Config{
		Listen:                    c.String("listen"),
		ListenTLS:                 c.String("listen-tls"),
		AllowRemotePlaintext:      c.Bool("allow-remote-plaintext"),
		Upstream:                  c.String("upstream"),
		UpstreamMode:              mode,
		InsecureUpstreamPlaintext: c.Bool("insecure-upstream-plaintext"),
		UpstreamName:              c.String("upstream-name"),
		UpstreamRoots:             roots,
		InsecureSkipVerify:        c.Bool("insecure-skip-verify"),
		Certificate:               cert,
		LegacyTLS:                 c.Bool("legacy-tls"),
		RequireTLS:                c.Bool("require-tls"),
		Deny:                      deny,
		IdleTimeout:               c.Duration("idle-timeout"),
		LoginTimeout:              c.Duration("login-timeout"),
		MaxConns:                  c.Int("max-conns"),
		MaxConnsPerIP:             c.Int("max-conns-per-ip"),
		Log:                       logOpts,
	}, nil
}

// parseDeny turns --deny values (each CMD[,CMD]) into upper-case command keywords.
func parseDeny(values []string) ([]string, error) {
	var deny []string
	for _, v := range values {
		for _, verb := range strings.Split(v, ",") {
			verb = strings.ToUpper(strings.TrimSpace(verb))
			if len(verb) < 3 || len(verb) > 8 || strings.ContainsAny(verb, " \t\r\n") {
				return nil, usagef("--deny: %q is not a POP3 command keyword", verb)
			}
			deny = append(deny, verb)
		}
	}
	return deny, nil
}

// localCertificate loads --cert/--key, or the local certificate (created on first use).
func localCertificate(c *cli.Context) (*tls.Certificate, error) {
	certFile, keyFile := c.String("cert"), c.String("key")
	if (certFile == "") != (keyFile == "") {
		return nil, usagef("--cert and --key go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading --cert/--key: %w", err)
		}
		return &cert, nil
	}
	dir, err := proxy.DefaultCertDir()
	if err != nil {
		return nil, err
	}
	lc, err := proxy.LoadOrCreateLocalCert(dir)
	if err != nil {
		return nil, err
	}
	return &lc.Certificate, nil
}

func serve(c *cli.Context) error {
	cfg, err := serveConfig(c)
	if err != nil {
		return err
	}
	return runProxy(c, cfg, c.Duration("shutdown-timeout"), nil)
}

// runProxy sets up the logging flags' outputs for cfg, warns about insecure settings, and
// serves until a signal (see runUntilSignal), writing out the logs at the end (for at most
// logStopTimeout). A stdout or stderr whose reader has gone costs log lines, never the
// process: SIGPIPE, which by default kills a Go program writing to a broken fd 1 or 2, is
// ignored, and the write fails with EPIPE instead (counted as dropped by the output).
func runProxy(c *cli.Context, cfg proxy.Config, grace time.Duration, failed <-chan error) error {
	signal.Ignore(syscall.SIGPIPE)
	logs, err := newLogs(c)
	if err != nil {
		return err
	}
	defer logs.stop()
	cfg.Sink = logs.sink
	srv, err := proxy.New(cfg)
	if err != nil {
		return err
	}
	warnStart(c.App.ErrWriter, logs.sink, cfg)
	return runUntilSignal(c, srv, logs, grace, failed)
}

// runUntilSignal serves srv until SIGINT or SIGTERM, then stops accepting and lets sessions
// finish for up to grace before closing them (never with QUIT); a second signal during that
// time ends the process at once. SIGHUP reopens the log file. An error on failed (nil: none),
// or the server failing, ends it too, after the sessions are closed. When the sessions are
// closed, logging stops holding them up (--log-overflow block).
func runUntilSignal(c *cli.Context, srv *proxy.Server, logs *serveLogs, grace time.Duration, failed <-chan error) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	errc := make(chan error, 1)
	go listenAndServe(srv, errc)
	for {
		select {
		case err := <-errc:
			closeNow(srv, logs)
			return err
		case err := <-failed:
			closeNow(srv, logs)
			<-errc
			return err
		case <-hup:
			logs.reopen() // a failure is reported by the log file itself
		case <-ctx.Done():
			stop() // a second Ctrl-C now kills the process
			sctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			context.AfterFunc(sctx, logs.release)
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			if err := <-errc; err != nil && !errors.Is(err, proxy.ErrServerClosed) {
				return err
			}
			return nil
		}
	}
}

// closeNow closes srv and every session at once (without QUIT), first making logging stop
// holding sessions up (--log-overflow block) so that none is left waiting for the disk.
func closeNow(srv *proxy.Server, logs *serveLogs) {
	logs.release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// An expired context makes Shutdown close the sessions instead of waiting; its error only
	// says so.
	_ = srv.Shutdown(ctx)
}

// listenAndServe runs srv and reports how it ended; a refused remote plaintext listener is a
// usage error.
func listenAndServe(srv *proxy.Server, errc chan<- error) {
	err := srv.ListenAndServe()
	if errors.Is(err, proxy.ErrRemotePlaintext) {
		err = usagef("%v; add --allow-remote-plaintext to accept that", err)
	}
	errc <- err
}

func certCommand() *cli.Command {
	return &cli.Command{
		Name:         "cert",
		Usage:        "print the local CA's path and SHA-256 fingerprint (creating it on first use)",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "export", EnvVars: []string{"POPWIRE_CERT_EXPORT"},
				Usage: "also write the CA certificate (PEM) to `FILE`, to be trusted by a mail client"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("cert takes no arguments (got %q)", c.Args().First())
			}
			dir, err := proxy.DefaultCertDir()
			if err != nil {
				return err
			}
			lc, err := proxy.LoadOrCreateLocalCert(dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "CA certificate: %s\nSHA-256 fingerprint: %s\n", lc.CAFile, lc.Fingerprint)
			if f := c.String("export"); f != "" {
				if err := os.WriteFile(f, lc.CAPEM, 0o644); err != nil {
					return fmt.Errorf("exporting the CA: %w", err)
				}
				fmt.Fprintf(c.App.Writer, "exported to %s\n", f)
			}
			return nil
		},
	}
}
