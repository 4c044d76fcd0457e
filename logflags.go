package main

import (
	"bufio"
	"context"
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
		&cli.StringFlag{Name: "log-overflow", Value: string(logview.OverflowDrop), EnvVars: []string{"POPWIRE_LOG_OVERFLOW"},
			Usage: "when the disk cannot keep up with --log-file: drop (sessions never wait; lost events are counted, in the file and on stderr) | block (sessions wait for the disk: nothing is lost, but a stalled disk stalls every session)"},
		&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"POPWIRE_LOG_FORMAT"},
			Usage: "what goes to stderr: text (the transcript) | json (JSON lines) | none"},
		&cli.StringFlag{Name: "color", Value: "auto", EnvVars: []string{"POPWIRE_COLOR"},
			Usage: "colour of the stderr transcript: auto (only on a terminal; NO_COLOR is honoured) | always | never"},
		&cli.StringFlag{Name: "bodies", Value: proxy.BodiesHeaders, EnvVars: []string{"POPWIRE_BODIES"},
			Usage: "what is kept of RETR/TOP content: none (sizes) | headers (SHA-256, From, To, Subject, Date, Message-ID) | full (also the message itself, in the JSON log)"},
		&cli.StringFlag{Name: "bodies-budget", Value: fmt.Sprintf("%dMiB", proxy.DefaultContentBudget>>20), EnvVars: []string{"POPWIRE_BODIES_BUDGET"},
			Usage: "with --bodies full, the most message content all sessions hold at once (`SIZE`, e.g. 256MiB); beyond it a message's content is left out, and its event says so"},
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
	budget, err := parseSize(c.String("bodies-budget"))
	switch {
	case err != nil:
		return opts, usagef("--bodies-budget: %v", err)
	case budget < 1<<20:
		return opts, usagef("--bodies-budget must be at least 1MiB (got %q)", c.String("bodies-budget"))
	}
	opts.ContentBudget = budget
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

// logStopTimeout bounds how long the logs may take to write what they hold when popwire stops,
// so that a terminal or disk that does not write never holds up the exit: SIGTERM ends the
// process within --shutdown-timeout and this.
const logStopTimeout = 500 * time.Millisecond

// serveLogs is where serve's events go, as the logging flags say: each output (stderr, the
// JSON log file) with a queue and goroutine of its own (see logview.Tee), so that a slow
// terminal or disk never holds up forwarding and one slow output never costs another events.
type serveLogs struct {
	sink    logview.Sink  // nil when nothing is logged, so that sessions build no events
	tee     *logview.Tee  // nil when nothing is logged
	reopens chan struct{} // SIGHUP requests for the reopen goroutine; nil without --log-file
}

// newLogs sets up the outputs the logging flags ask for.
func newLogs(c *cli.Context) (*serveLogs, error) {
	mode, err := logview.ParseColorMode(c.String("color"))
	if err != nil {
		return nil, usageError{err}
	}
	overflow, err := logview.ParseOverflow(c.String("log-overflow"))
	if err != nil {
		return nil, usagef("--log-overflow must be drop or block (got %q)", c.String("log-overflow"))
	}
	stderr := c.App.ErrWriter
	// Only the stderr output's goroutine writes to (and flushes) the buffered stderr.
	buffered := bufio.NewWriterSize(stderr, 64<<10)
	file, _ := stderr.(*os.File)
	printer := func() logview.Sink {
		return logview.NewPrinter(buffered, logview.PrinterOptions{Color: logview.UseColor(mode, file, os.Getenv), Location: time.Local})
	}
	var outs []*logview.Async
	var toStderr logview.Sink
	switch f := c.String("log-format"); f {
	case "text":
		toStderr = printer()
	case "json":
		toStderr = logview.NewJSONWriter(buffered)
	case "none":
	default:
		return nil, usagef("--log-format must be text, json or none (got %q)", f)
	}
	var notices *logview.Async // stderr: the transcript, or only the log file's trouble
	if toStderr != nil {
		notices = logview.NewAsync(toStderr, logview.AsyncOptions{Flush: []func() error{buffered.Flush}, Output: "stderr"})
		outs = append(outs, notices)
	}
	logs := &serveLogs{}
	if path := c.String("log-file"); path != "" {
		if notices == nil {
			notices = logview.NewAsync(printer(), logview.AsyncOptions{Flush: []func() error{buffered.Flush}, Output: "stderr"})
		}
		fsink, err := logview.OpenFile(path, notices.Reporter())
		if err != nil {
			return nil, err
		}
		fsink.Deferred = true
		outs = append(outs, logview.NewAsync(fsink, logview.AsyncOptions{Flush: []func() error{fsink.Flush}, Output: "log-file", Overflow: overflow}))
		logs.reopens = make(chan struct{}, 1)
		go reopenOnRequest(fsink, logs.reopens)
	}
	if len(outs) > 0 {
		logs.tee = logview.NewTee(notices, outs...)
		logs.sink = logs.tee
	}
	return logs, nil
}

// reopenOnRequest reopens the log file once for each request, until requests is closed. It
// runs apart from the signal loop, so that a file stuck in a write cannot delay a SIGTERM;
// the FileSink reports a failure itself.
func reopenOnRequest(fsink *logview.FileSink, requests <-chan struct{}) {
	for range requests {
		_ = fsink.Reopen()
	}
}

// reopen asks for the log file to be reopened (SIGHUP); requests made while one is pending
// are one request.
func (l *serveLogs) reopen() {
	if l.reopens == nil {
		return
	}
	select {
	case l.reopens <- struct{}{}:
	default:
	}
}

// release makes --log-overflow block stop holding sessions up, so that closing them at the end
// of a shutdown never waits for the disk.
func (l *serveLogs) release() {
	if l.tee != nil {
		l.tee.Release()
	}
}

// stop writes what the outputs hold, for at most logStopTimeout; an output that cannot is
// given up on, and what it lost is said on the others.
func (l *serveLogs) stop() {
	if l.reopens != nil {
		close(l.reopens)
	}
	if l.tee == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), logStopTimeout)
	defer cancel()
	// An output given up on was counted and said on the others; nothing is left to report.
	_ = l.tee.Shutdown(ctx)
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
