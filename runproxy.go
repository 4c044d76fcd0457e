package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/oauth"
	"github.com/popwire/popwire/internal/proxy"
)

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
	ops, err := startMetrics(c, logs)
	if err != nil {
		return err
	}
	defer ops.stop()
	cfg.Metrics = ops.reg
	if t, ok := cfg.OAuth.(*oauth.Tokens); ok {
		t.OnRefresh = ops.reg.Route(cfg.Route).RefreshOutcome
	}
	cfg.Sink = logs.sink
	keys, err := startKeyLog(c, logs.sink)
	if err != nil {
		return err
	}
	if keys != nil {
		defer stopKeyLog(keys)
		cfg.KeyLog = keys
	}
	srv, err := proxy.New(cfg)
	if err != nil {
		return err
	}
	warnStart(c.App.ErrWriter, logs.sink, cfg)
	return runUntilSignal(c, oneRoute{srv}, logs, ops, grace, failed, nil)
}

// server is what runUntilSignal serves: one proxy.Server (oneRoute), or the routes of a
// configuration file (routeSet).
type server interface {
	// ListenAndServe opens the listeners, calls ready once they accept, and serves until
	// Shutdown (then it returns proxy.ErrServerClosed) or a failure.
	ListenAndServe(ready func()) error
	Shutdown(ctx context.Context) error
}

// oneRoute is the server of serve's flags and of demo: one proxy.Server.
type oneRoute struct{ *proxy.Server }

// ListenAndServe opens the Server's listeners, calls ready, and serves them.
func (s oneRoute) ListenAndServe(ready func()) error {
	ls, err := s.Listen()
	if err != nil {
		return err
	}
	ready()
	return s.Serve(ls...)
}

// runUntilSignal serves srv until SIGINT or SIGTERM, then drains: /readyz fails at once, the
// listeners accept for the drain delay (see opsServer), then they close and sessions finish
// for up to grace before they are closed (never with QUIT); a second signal during that time
// ends the process at once. SIGHUP reopens the log file, and calls reload (nil: none). An
// error on failed (nil: none), or the server failing, ends it too, after the sessions are
// closed. When the sessions are closed, logging stops holding them up (--log-overflow block).
func runUntilSignal(c *cli.Context, srv server, logs *serveLogs, ops *opsServer, grace time.Duration, failed <-chan error, reload func()) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	errc := make(chan error, 1)
	go listenAndServe(srv, ops, errc)
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
			if reload != nil {
				reload()
			}
		case <-ctx.Done():
			stop() // a second Ctrl-C now kills the process
			ops.drainThenClose()
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
func closeNow(srv server, logs *serveLogs) {
	logs.release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// An expired context makes Shutdown close the sessions instead of waiting; its error only
	// says so.
	_ = srv.Shutdown(ctx)
}

// listenAndServe runs srv, marking ops ready once its listeners are open, and reports how it
// ended; a refused remote plaintext listener is a usage error.
func listenAndServe(srv server, ops *opsServer, errc chan<- error) {
	err := srv.ListenAndServe(ops.ready)
	if errors.Is(err, proxy.ErrRemotePlaintext) {
		err = usagef("%v; add --allow-remote-plaintext to accept that", err)
	}
	errc <- err
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
		_ = sink.Emit(logview.Stamp(logview.Event{Kind: logview.KindWarning, Text: text}))
	}
	if cfg.Log.RevealCredentials {
		fmt.Fprint(w, revealBanner)
		emit("--reveal-credentials: secrets are logged in clear; events that hold one are marked revealed")
	}
	if cfg.InsecureSkipVerify {
		emit("--insecure-skip-verify: the upstream certificate is not verified; anyone on the path can read the mail and credentials")
	}
}
