package main

import (
	"fmt"
	"io"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/config"
	"github.com/popwire/popwire/internal/proxy"
)

// serveFile runs serve --config FILE: the routes of the file, reloaded on SIGHUP. The file
// says every setting, so every other serve flag (or its POPWIRE_ variable) is refused rather
// than left to guess which wins, now or after a reload.
func serveFile(c *cli.Context) error {
	if err := noArguments(c); err != nil {
		return err
	}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if name != "config" && c.IsSet(name) {
			return usagef("--%s does not go with --config (it may come from POPWIRE_%s): the file says every setting; put it there (popwire config example shows each key)",
				name, envName(name))
		}
	}
	cfg, err := loadConfig(c.String("config"))
	if err != nil {
		return usageError{err}
	}
	if err := setLogFlags(c, cfg); err != nil {
		return err
	}
	signal.Ignore(syscall.SIGPIPE) // as runProxy, which see
	logs, err := newLogs(c)
	if err != nil {
		return err
	}
	defer logs.stop()
	keys, err := startKeyLog(c, logs.sink)
	if err != nil {
		return err
	}
	var keyWriter io.Writer // stays a nil interface without --keylog
	if keys != nil {
		defer stopKeyLog(keys)
		keyWriter = keys
	}
	base, err := logOptions(c)
	if err != nil {
		return err
	}
	ops, err := startMetrics(c, logs)
	if err != nil {
		return err
	}
	defer ops.stop()
	set, err := newRouteSet(cfg, logs.sink, keyWriter, base, ops.reg)
	if err != nil {
		return err
	}
	warnStart(c.App.ErrWriter, logs.sink, startWarnings(cfg, base))
	return runUntilSignal(c, set, logs, ops, cfg.ShutdownTimeout, nil, set.requestReload)
}

// setLogFlags gives the file's process-wide settings (logging, metrics) to the flags they
// stand for, so that the outputs are set up, and checked, by the code that serves the flags.
func setLogFlags(c *cli.Context, cfg *config.Config) error {
	l, m := cfg.Log, cfg.Metrics
	drain := ""
	if m.DrainDelaySet {
		drain = m.DrainDelay.String()
	}
	for _, f := range []struct{ flag, value string }{
		{"metrics", m.Listen}, {"metrics-allow-remote", strconv.FormatBool(m.AllowRemote)}, {"drain-delay", drain},
		{"log-format", l.Format}, {"color", l.Color}, {"log-file", l.File}, {"log-overflow", l.Overflow},
		{"transcript", l.Transcript}, {"bodies", l.Bodies}, {"bodies-budget", l.BodiesBudget},
		{"keylog", l.Keylog}, {"pcap", l.Pcap},
		{"hide-users", strconv.FormatBool(l.HideUsers)}, {"reveal-credentials", strconv.FormatBool(l.RevealCredentials)},
	} {
		if f.value == "" {
			continue
		}
		if err := c.Set(f.flag, f.value); err != nil {
			return fmt.Errorf("config: %s: %s: %w", cfg.File, f.flag, err)
		}
	}
	return nil
}

// startWarnings is what warnStart says at the start of a file's routes: the revealed
// credentials, and any route that does not verify its upstream.
func startWarnings(cfg *config.Config, base proxy.LogOptions) proxy.Config {
	w := proxy.Config{Log: base}
	for _, r := range cfg.Routes {
		w.InsecureSkipVerify = w.InsecureSkipVerify || r.InsecureSkipVerify
	}
	return w
}

// envName is the POPWIRE_ variable of the flag name.
func envName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}
