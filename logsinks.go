package main

import (
	"bufio"
	"context"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/logview"
)

// logStopTimeout bounds how long the logs may take to write what they hold when popwire stops,
// so that a terminal or disk that does not write never holds up the exit: SIGTERM ends the
// process within --shutdown-timeout and this.
const logStopTimeout = 500 * time.Millisecond

// serveLogs is where serve's events go, as the logging flags say: each output (stderr, the
// JSON log file, the --pcap capture) with a queue and goroutine of its own (see logview.Tee), so that a slow
// terminal or disk never holds up forwarding and one slow output never costs another events.
type serveLogs struct {
	sink    logview.Sink  // nil when nothing is logged, so that sessions build no events
	tee     *logview.Tee  // nil when nothing is logged
	reopens chan struct{} // SIGHUP requests for the reopen goroutine; nil without --log-file and --pcap
	outputs []logOutput   // every output, for its dropped count
}

// logOutput is one output of serveLogs and its name ("stderr", "log-file", "pcap").
type logOutput struct {
	name  string
	async *logview.Async
}

// newLogs sets up the outputs the logging flags ask for.
func newLogs(c *cli.Context) (*serveLogs, error) {
	colour, err := colorFlag(c, c.App.ErrWriter)
	if err != nil {
		return nil, err
	}
	level, err := transcriptLevel(c)
	if err != nil {
		return nil, err
	}
	overflow, err := logview.ParseOverflow(c.String("log-overflow"))
	if err != nil {
		return nil, usagef("--log-overflow must be drop or block (got %q)", c.String("log-overflow"))
	}
	stderr := c.App.ErrWriter
	// Only the stderr output's goroutine writes to (and flushes) the buffered stderr.
	buffered := bufio.NewWriterSize(stderr, 64<<10)
	printer := func() logview.Sink {
		return logview.NewPrinter(buffered, logview.PrinterOptions{Color: colour, Location: time.Local, Level: level})
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
	if notices != nil {
		logs.outputs = append(logs.outputs, logOutput{"stderr", notices})
	}
	var files []*logview.FileSink // reopened on SIGHUP
	for _, file := range []struct {
		flag     string
		open     func(path string, report io.Writer) (*logview.FileSink, error)
		overflow logview.Overflow
	}{{"log-file", logview.OpenFile, overflow}, {"pcap", pcapFile(c), logview.OverflowDrop}} {
		path := c.String(file.flag)
		if path == "" {
			continue
		}
		if notices == nil {
			notices = logview.NewAsync(printer(), logview.AsyncOptions{Flush: []func() error{buffered.Flush}, Output: "stderr"})
			logs.outputs = append(logs.outputs, logOutput{"stderr", notices})
		}
		fsink, err := file.open(path, notices.Reporter())
		if err != nil {
			return nil, err
		}
		fsink.Deferred = true
		out := logview.NewAsync(fsink, logview.AsyncOptions{Flush: []func() error{fsink.Flush}, Output: file.flag, Overflow: file.overflow})
		outs = append(outs, out)
		logs.outputs = append(logs.outputs, logOutput{file.flag, out})
		files = append(files, fsink)
	}
	if len(files) > 0 {
		logs.reopens = make(chan struct{}, 1)
		go reopenOnRequest(files, logs.reopens)
	}
	if len(outs) > 0 {
		logs.tee = logview.NewTee(notices, outs...)
		logs.sink = logs.tee
	}
	warnPcap(c, logs.sink)
	return logs, nil
}

// reopenOnRequest reopens the files (the log file, the capture) once for each request, until
// requests is closed. It runs apart from the signal loop, so that a file stuck in a write
// cannot delay a SIGTERM; a FileSink reports a failure itself.
func reopenOnRequest(files []*logview.FileSink, requests <-chan struct{}) {
	for range requests {
		for _, f := range files {
			_ = f.Reopen()
		}
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
