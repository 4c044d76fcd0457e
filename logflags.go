package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/logview"
	"github.com/popwire/popwire/proxy"
)

// userKeyFile is the name, in the local certificate's directory, of the HMAC key that
// --hide-users uses, so that a user's hash is the same across runs.
const userKeyFile = "user-hash.key"

// logFlags are serve's logging flags.
func logFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-file", EnvVars: []string{"POPWIRE_LOG_FILE"},
			Usage: "append JSON lines (one event per line) to `FILE`, created with mode 0600; SIGHUP reopens it"},
		&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"POPWIRE_LOG_FORMAT"},
			Usage: "what goes to stderr: text (the transcript) | json (JSON lines) | none"},
		&cli.StringFlag{Name: "color", Value: "auto", EnvVars: []string{"POPWIRE_COLOR"},
			Usage: "colour of the stderr transcript: auto (only on a terminal; NO_COLOR is honoured) | always | never"},
		&cli.StringFlag{Name: "bodies", Value: proxy.BodiesHeaders, EnvVars: []string{"POPWIRE_BODIES"},
			Usage: "what is kept of RETR/TOP content: none (sizes) | headers (SHA-256, From, To, Subject, Date, Message-ID) | full (also the message itself, in the JSON log)"},
		&cli.BoolFlag{Name: "hide-users", EnvVars: []string{"POPWIRE_HIDE_USERS"},
			Usage: "replace user names in every log with a stable keyed hash (the key is kept next to the local CA)"},
		&cli.BoolFlag{Name: "reveal-credentials", EnvVars: []string{"POPWIRE_REVEAL_CREDENTIALS"},
			Usage: "log passwords and SASL secrets in clear, to debug your own account; every such event is marked"},
	}
}

// logOptions turns the logging flags into the proxy's LogOptions.
func logOptions(c *cli.Context) (proxy.LogOptions, error) {
	opts := proxy.LogOptions{
		Bodies:            c.String("bodies"),
		HideUsers:         c.Bool("hide-users"),
		RevealCredentials: c.Bool("reveal-credentials"),
	}
	switch opts.Bodies {
	case proxy.BodiesNone, proxy.BodiesHeaders, proxy.BodiesFull:
	default:
		return opts, usagef("--bodies must be none, headers or full (got %q)", opts.Bodies)
	}
	if opts.HideUsers && opts.RevealCredentials {
		return opts, usagef("--hide-users and --reveal-credentials contradict each other")
	}
	if opts.HideUsers {
		dir, err := proxy.DefaultCertDir()
		if err != nil {
			return opts, err
		}
		if opts.UserKey, err = loadOrCreateKey(filepath.Join(dir, userKeyFile)); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

// loadOrCreateKey reads a 32-byte key from path, creating it (mode 0600, directory 0700) on
// first use.
func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil && len(key) == 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading the user-hash key: %w", err)
	}
	if err == nil {
		return nil, fmt.Errorf("user-hash key %s: want 32 bytes, found %d", path, len(key))
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the user-hash key: %w", err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("creating the user-hash key: %w", err)
	}
	return key, nil
}

// newSink returns where serve's events go, as the logging flags say (nil when nothing is
// logged, so that sessions skip building events and auditing bodies), a function that flushes
// and stops it, and the hook SIGHUP calls to reopen the log file. Events are formatted and
// written by a goroutine of their own, in one write per burst, so that a slow terminal or disk
// never holds up forwarding.
func newSink(c *cli.Context) (logview.Sink, func(), func() error, error) {
	mode, err := logview.ParseColorMode(c.String("color"))
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	stderr := c.App.ErrWriter
	// Only the Async goroutine writes to (and flushes) the buffered stderr.
	buffered := bufio.NewWriterSize(stderr, 64<<10)
	var sinks []logview.Sink
	var flush []func() error
	switch f := c.String("log-format"); f {
	case "text":
		file, _ := stderr.(*os.File)
		sinks = append(sinks, logview.NewPrinter(buffered, logview.PrinterOptions{
			Color: logview.UseColor(mode, file, os.Getenv), Location: time.Local}))
		flush = append(flush, buffered.Flush)
	case "json":
		sinks = append(sinks, logview.NewJSONWriter(buffered))
		flush = append(flush, buffered.Flush)
	case "none":
	default:
		return nil, nil, nil, usagef("--log-format must be text, json or none (got %q)", f)
	}
	reopen := func() error { return nil }
	if path := c.String("log-file"); path != "" {
		fsink, err := logview.OpenFile(path, stderr)
		if err != nil {
			return nil, nil, nil, err
		}
		fsink.Deferred = true
		sinks = append(sinks, fsink)
		flush = append(flush, fsink.Flush)
		reopen = fsink.Reopen
	}
	if len(sinks) == 0 {
		return nil, func() {}, reopen, nil
	}
	async := logview.NewAsync(logview.Multi(sinks...), 0, flush...)
	// Close only flushes and stops the goroutine; it cannot fail.
	return async, func() { _ = async.Close() }, reopen, nil
}

// revealBanner is printed on stderr at start when --reveal-credentials is on.
const revealBanner = `
  ┌────────────────────────────────────────────────────────────────────────────┐
  │ WARNING: --reveal-credentials is on. Passwords, tokens and SASL secrets    │
  │ are written IN CLEAR to every log (stderr and --log-file). Use it only to  │
  │ debug your own account, and delete those logs afterwards.                  │
  └────────────────────────────────────────────────────────────────────────────┘
`

// warnStart prints and logs the warnings that insecure flags call for at start; a nil sink
// logs nothing.
func warnStart(w io.Writer, sink logview.Sink, cfg proxy.Config) {
	emit := func(text string) {
		if sink == nil {
			return
		}
		// A failing sink reports itself; the warning is also on stderr for the banner case.
		_ = sink.Emit(logview.Event{V: logview.Version, Time: time.Now().UTC(), Kind: logview.KindWarning, Text: text})
	}
	if cfg.Log.RevealCredentials {
		fmt.Fprint(w, revealBanner)
		emit("--reveal-credentials: secrets are logged in clear; events that hold one are marked revealed")
	}
	if cfg.InsecureSkipVerify {
		emit("--insecure-skip-verify: the upstream certificate is not verified; anyone on the path can read the mail and credentials")
	}
}
