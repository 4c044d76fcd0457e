package logview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// ViewOptions configures View. The zero value prints every event of the inputs as a
// transcript without colour.
type ViewOptions struct {
	Filter       Filter         // which events to show
	Follow       bool           // keep reading files as they grow, until ctx is done
	PollInterval time.Duration  // how often a followed file is checked; zero means DefaultPollInterval
	Summary      bool           // one row per session instead of the transcript (written at the end)
	Findings     bool           // the findings grouped by rule instead of the transcript (written at the end)
	JSON         bool           // write JSON lines: the events, or with Summary one SessionSummary per line, with Findings one FindingGroup per line
	Printer      PrinterOptions // colour and time zone of text output
	Stdin        io.Reader      // read for the input "-"; nil means os.Stdin
	Warnings     io.Writer      // bad lines and unreadable inputs are reported here; nil discards them
	// Sink, when set, takes the events the filter selects instead of out (popwire view --pcap
	// writes them as a capture); Summary and JSON are then ignored.
	Sink Sink
}

// View reads JSON-lines logs and writes the events that opts.Filter selects to out, as a
// transcript, as JSON lines, as a per-session summary, or as their findings grouped by rule. An input is a file path, or "-" for
// opts.Stdin; no inputs means "-". Inputs are read in order; with opts.Follow, which takes
// files only, they are followed concurrently and events are shown as they come.
//
// A bad line is reported on opts.Warnings with its line number and skipped. An input that
// cannot be opened is an error. When ctx is done, View stops: in follow mode that is the normal
// end and View returns nil after writing any summary; otherwise it returns ctx's error.
func View(ctx context.Context, opts ViewOptions, inputs []string, out io.Writer) error {
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	warn := opts.Warnings
	if warn == nil {
		warn = io.Discard
	}
	v := newViewer(&opts, out)
	var err error
	if opts.Follow {
		err = v.follow(ctx, inputs, warn)
		if ctx.Err() != nil {
			err = nil
		}
	} else {
		err = v.readAll(ctx, inputs, warn)
	}
	if err != nil {
		return err
	}
	return v.finish()
}

// viewer routes decoded events through the filter to the chosen output.
type viewer struct {
	opts *ViewOptions
	out  io.Writer
	gate *gate
	sink Sink
	sum  *summariser
	find *findingsReport
	err  error // first output error; stops the view
}

func newViewer(opts *ViewOptions, out io.Writer) *viewer {
	v := &viewer{opts: opts, out: out, gate: newGate(&opts.Filter)}
	f := &opts.Filter
	switch {
	case opts.Sink != nil:
		v.sink = opts.Sink
	case opts.Summary:
		v.sum = newSummariser(f.matchEvent)
	case opts.Findings:
		v.find = newFindingsReport()
	case opts.JSON:
		v.sink = NewJSONWriter(out)
	default:
		v.sink = NewPrinter(out, opts.Printer)
	}
	return v
}

// handle passes one decoded event through the filter. It returns an output error.
func (v *viewer) handle(e Event) error {
	v.gate.push(e, v.emit)
	return v.err
}

func (v *viewer) emit(e Event) {
	if v.err != nil {
		return
	}
	if v.sum != nil {
		if v.opts.Filter.inWindow(&e) {
			v.sum.add(e)
		}
		return
	}
	if v.find != nil {
		if v.opts.Filter.matchEvent(&e) {
			v.find.add(&e)
		}
		return
	}
	if v.opts.Filter.matchEvent(&e) {
		v.err = v.sink.Emit(e)
	}
}

func (v *viewer) finish() error {
	loc := v.opts.Printer.Location
	if loc == nil {
		loc = time.UTC
	}
	if v.find != nil {
		return v.find.write(v.out, v.opts.JSON, v.opts.Printer.Color, loc)
	}
	if v.sum == nil {
		return nil
	}
	sums := v.sum.summaries()
	if !v.opts.JSON {
		return writeSummaryTable(v.out, sums, v.opts.Printer.Color, loc)
	}
	for _, s := range sums {
		line, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("logview: encode summary: %w", err)
		}
		if _, err := v.out.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("logview: write summary: %w", err)
		}
	}
	return nil
}

// errFollowStdin rejects --follow with "-": a pipe is already read as it comes, and a read
// from it could not be interrupted.
var errFollowStdin = errors.New("logview: --follow reads files; stdin is already read as it arrives, so drop --follow")

// readAll reads each input to its end, in order.
func (v *viewer) readAll(ctx context.Context, inputs []string, warn io.Writer) error {
	for _, name := range inputs {
		r, closeFn, err := v.open(name)
		if err != nil {
			return err
		}
		err = v.decode(ctx, NewDecoder(r, displayName(name)), warn, v.handle)
		closeFn()
		if err != nil {
			return err
		}
	}
	return nil
}

func displayName(name string) string {
	if name == "-" {
		return "stdin"
	}
	return name
}

func (v *viewer) open(name string) (io.Reader, func(), error) {
	if name == "-" {
		if v.opts.Stdin != nil {
			return v.opts.Stdin, func() {}, nil
		}
		return os.Stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("logview: view: %w", err)
	}
	return f, func() { _ = f.Close() }, nil // read-only
}

// decode feeds every event of d to handle, reporting bad lines on warn.
func (v *viewer) decode(ctx context.Context, d *Decoder, warn io.Writer, handle func(Event) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := d.Next()
		var le *LineError
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &le):
			fmt.Fprintln(warn, le)
			continue
		case err != nil:
			return err
		}
		if err := handle(e); err != nil {
			return err
		}
	}
}

// follow reads every input concurrently, files without end, until ctx is done or an input
// fails. Events are handled one at a time, in the order they arrive.
func (v *viewer) follow(ctx context.Context, inputs []string, warn io.Writer) error {
	poll := v.opts.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	readers := make([]*followReader, len(inputs))
	for i, name := range inputs {
		if name == "-" {
			return errFollowStdin
		}
		fr, err := openFollow(ctx, name, poll)
		if err != nil {
			return err
		}
		defer fr.Close()
		readers[i] = fr
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex // serialises handle and warn across inputs
	var wg sync.WaitGroup
	errs := make([]error, len(inputs))
	for i, r := range readers {
		wg.Go(func() {
			d := NewDecoder(r, displayName(inputs[i]))
			errs[i] = v.decode(ctx, d, lockedWriter{&mu, warn}, func(e Event) error {
				mu.Lock()
				defer mu.Unlock()
				return v.handle(e)
			})
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

// lockedWriter serialises writes with a mutex shared with other output.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
