package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// popwireModes are the flags of the two popwire contenders, worked out from the binary's
// "serve --help" so that the harness passes only flags that exist.
type popwireModes struct {
	off, logged []string // extra serve flags of each contender
	notes       []string // what could not be configured as asked
}

// logFormatRE finds the help line of --log-format, which lists the values it accepts.
var logFormatRE = regexp.MustCompile(`--log-format[^\n]*`)

// detectPopwireModes returns the flags for "logging off" and "full logging" given the text of
// "popwire serve --help". Full logging is the default text transcript on stderr (sent to a
// file by the harness) plus --log-file JSON with --bodies headers; logging off uses --quiet or
// a "none"/"off" log format when one exists (otherwise it relies on stderr going to /dev/null
// alone, which it notes) and --bodies none, so that no message is hashed for a log nobody
// writes. Every client of the harness comes from loopback, so both get --max-conns-per-ip
// maxConns when it exists.
func detectPopwireModes(help, jsonFile string, maxConns int) popwireModes {
	var m popwireModes
	has := func(flag string) bool {
		return regexp.MustCompile(`(?m)` + regexp.QuoteMeta(flag) + `\b`).MatchString(help)
	}
	switch {
	case has("--quiet"):
		m.off = append(m.off, "--quiet")
	default:
		formats := logFormatRE.FindString(help)
		switch {
		case regexp.MustCompile(`\bnone\b`).MatchString(formats):
			m.off = append(m.off, "--log-format", "none")
		case regexp.MustCompile(`\boff\b`).MatchString(formats):
			m.off = append(m.off, "--log-format", "off")
		default:
			m.notes = append(m.notes, "popwire has no flag that turns the transcript off: "+
				"the logging-off contender still formats it and writes it to /dev/null")
		}
	}
	if has("--bodies") {
		m.off = append(m.off, "--bodies", "none")
	}
	if has("--color") {
		m.logged = append(m.logged, "--color", "never")
	}
	if has("--log-format") {
		m.logged = append(m.logged, "--log-format", "text")
	}
	if has("--log-file") {
		m.logged = append(m.logged, "--log-file", jsonFile)
	} else {
		m.notes = append(m.notes, "popwire has no --log-file: the full-logging contender writes no JSON log")
	}
	if has("--bodies") {
		m.logged = append(m.logged, "--bodies", "headers")
	} else {
		m.notes = append(m.notes, "popwire has no --bodies: the full-logging contender uses its default body logging")
	}
	if has("--max-conns-per-ip") {
		perIP := []string{"--max-conns-per-ip", fmt.Sprint(maxConns)}
		m.off = append(m.off, perIP...)
		m.logged = append(m.logged, perIP...)
	}
	return m
}

// popwireContender starts a fresh "popwire serve" for every measurement. When logged is set,
// its stderr (the text transcript) goes to a file in dir; otherwise to /dev/null.
func popwireContender(cs *children, name, bin, dir, upstream, caFile string, maxConns int, extra []string, logged bool) contender {
	return contender{name: name, proxy: true, start: func(ctx context.Context) (*instance, error) {
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		args := []string{"serve", "--listen", addr, "--upstream", upstream, "--upstream-ca", caFile,
			"--upstream-name", upstreamName, "--max-conns", fmt.Sprint(maxConns)}
		args = append(args, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+dir, "NO_COLOR=1")
		out := os.DevNull
		if logged {
			out = filepath.Join(dir, "transcript.txt")
		}
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
		return startReady(ctx, cs, cmd, addr)
	}}
}

// popwireHelp returns the text of "popwire serve --help".
func popwireHelp(bin string) (string, error) {
	out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("bench: %s serve --help: %w: %s", bin, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
