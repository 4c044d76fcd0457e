package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// popwireModes are the flags of the popwire contenders, worked out from the binary's
// "serve --help" so that the harness passes only flags that exist.
type popwireModes struct {
	off, logged []string // extra serve flags of the log-off and full-log contenders
	full        []string // the full log with --bodies full; nil when popwire has no --bodies
	deny        []string // the full log with --deny DELE; nil when popwire has no --deny
	jsonLog     bool     // the logging contenders write a JSON log (--log-file exists)
	notes       []string // what could not be configured as asked
}

// logFormatRE finds the help line of --log-format, which lists the values it accepts.
var logFormatRE = regexp.MustCompile(`--log-format[^\n]*`)

// detectPopwireModes returns the flags of the popwire contenders given the text of "popwire
// serve --help". Full logging is issue 14's: the default text transcript on stderr (sent to a
// file by the harness), a JSON log (--log-file, added per instance by popwireContender) and
// --bodies headers. Logging off uses --quiet or a "none"/"off" log format when one exists
// (otherwise it relies on stderr going to /dev/null alone, which it notes) and --bodies none,
// so that no message is hashed for a log nobody writes. The --bodies full contender is the
// full log with --bodies full and --bodies-budget budgetMiB; the deny contender the full log
// with --deny DELE. Every client of the harness comes from loopback, so all get
// --max-conns-per-ip maxConns when it exists.
func detectPopwireModes(help string, maxConns, budgetMiB int) popwireModes {
	var m popwireModes
	has := func(flag string) bool {
		return regexp.MustCompile(`(?m)` + regexp.QuoteMeta(flag) + `(\s|$)`).MatchString(help)
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
	if has("--color") {
		m.logged = append(m.logged, "--color", "never")
	}
	if has("--log-format") {
		m.logged = append(m.logged, "--log-format", "text")
	}
	m.jsonLog = has("--log-file")
	if !m.jsonLog {
		m.notes = append(m.notes, "popwire has no --log-file: the full-logging contenders write no JSON log")
	}
	if has("--bodies") {
		m.off = append(m.off, "--bodies", "none")
		m.full = append(slices.Clone(m.logged), "--bodies", "full")
		m.logged = append(m.logged, "--bodies", "headers")
		if has("--bodies-budget") {
			m.full = append(m.full, "--bodies-budget", fmt.Sprintf("%dMiB", budgetMiB))
		} else {
			m.notes = append(m.notes, "popwire has no --bodies-budget: the --bodies full contender runs with its own bound, not the harness's")
		}
	} else {
		m.notes = append(m.notes, "popwire has no --bodies: the full-logging contender uses its default body logging",
			"popwire has no --bodies: the --bodies full contender was not measured")
	}
	if has("--max-conns-per-ip") {
		perIP := []string{"--max-conns-per-ip", fmt.Sprint(maxConns)}
		m.off = append(m.off, perIP...)
		m.logged = append(m.logged, perIP...)
		if m.full != nil {
			m.full = append(m.full, perIP...)
		}
	}
	if has("--deny") {
		m.deny = append(slices.Clone(m.logged), "--deny", "DELE")
	} else {
		m.notes = append(m.notes, "popwire has no --deny: the pipelined DELE was not measured against a local answer")
	}
	return m
}

// popwireContender starts a fresh "popwire serve" with the extra flags for every measurement,
// taking part in the workloads runs. When logged is set, its stderr (the text transcript) and
// its JSON log (when jsonLog is set) go to files in a directory of their own under dir,
// removed when the instance stops; otherwise stderr goes to /dev/null. kind is what the extra
// flags make of each instance.
func popwireContender(cs *children, name, bin, dir, upstream, caFile string, maxConns int, extra []string,
	logged, jsonLog bool, kind traits, runs ...string) contender {
	return contender{name: name, runs: runs, start: func(ctx context.Context) (*instance, error) {
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		args := []string{"serve", "--listen", addr, "--upstream", upstream, "--upstream-ca", caFile,
			"--upstream-name", upstreamName, "--max-conns", fmt.Sprint(maxConns)}
		args = append(args, extra...)
		out, scratch, jsonFile := os.DevNull, "", ""
		if logged {
			if scratch, err = os.MkdirTemp(dir, "popwire-logs-"); err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
			out = filepath.Join(scratch, "transcript.txt")
			if jsonLog {
				jsonFile = filepath.Join(scratch, "log.jsonl")
				args = append(args, "--log-file", jsonFile)
			}
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+dir, "NO_COLOR=1")
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			os.RemoveAll(scratch)
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
		in, err := startReady(ctx, cs, cmd, addr)
		if err != nil {
			os.RemoveAll(scratch)
			return nil, err
		}
		in.traits, in.scratch, in.jsonLog = kind, scratch, jsonFile
		return in, nil
	}}
}

// logStats is what the harness reads back from a popwire JSON log after a measurement.
type logStats struct {
	dropped int // events the logs lost
	omitted int // messages whose content the --bodies-budget left out
}

// readLogStats counts, in the JSON log in file, the events popwire's logs lost (the "dropped"
// events of docs/log-format.md: each says how many events one output lost; every output's loss
// reaches the JSON log, the JSON log's own included once it writes again) and the messages
// whose content was left out (content_omitted). A line it must read that is not JSON is an
// error: the log is incomplete.
func readLogStats(file string) (logStats, error) {
	var st logStats
	f, err := os.Open(file)
	if err != nil {
		return st, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 128<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"dropped"`)) && !bytes.Contains(line, []byte(`"content_omitted":true`)) {
			continue
		}
		var ev struct {
			Kind    string `json:"kind"`
			Dropped int    `json:"dropped"`
			Message struct {
				ContentOmitted bool `json:"content_omitted"`
			} `json:"message"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			return st, fmt.Errorf("bench: %s: %w", file, err)
		}
		if ev.Kind == "dropped" {
			st.dropped += ev.Dropped
		}
		if ev.Message.ContentOmitted {
			st.omitted++
		}
	}
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("bench: %s: %w", file, err)
	}
	return st, nil
}

// popwireHelp returns the text of "popwire serve --help".
func popwireHelp(bin string) (string, error) {
	out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("bench: %s serve --help: %w: %s", bin, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
