package main

import (
	"fmt"
	"math"
	"strings"
)

// metric describes one row of the results table; label may hold the placeholders {big} (the
// size of the RETR message in MiB) and {workers} (the clients of the sessions workload).
type metric struct {
	key, label, unit string
	higherIsBetter   bool
}

// metrics lists the table's rows in order.
var metrics = []metric{
	{mRetrMBps, "RETR {big} MiB throughput", "MB/s", true},
	{mRetrCPU, "RETR CPU of the proxy process", "s/GB", false},
	{mRetrPeakMiB, "peak RSS of the proxy during RETR", "MiB", false},
	{mPipeMBps, "RETR {big} MiB + pipelined DELE, RSET throughput", "MB/s", true},
	{mPipeCPU, "RETR + pipelined DELE, RSET CPU of the proxy", "s/GB", false},
	{mNoopP50, "NOOP round trip p50", "µs", false},
	{mNoopP99, "NOOP round trip p99", "µs", false},
	{mSessions, "sessions/s, {workers} concurrent clients", "1/s", true},
	{mIdlePerSess, "RSS per idle logged-in session", "KiB", false},
	{mDropped, "log events dropped per measurement", "events", false},
	{mOmitted, "messages whose content --bodies-budget left out, per measurement", "messages", false},
}

// Contender names. The popwire contenders (named "popwire …") are compared with stunnel and
// the Go relay, every proxy with direct.
const (
	cDirect      = "direct"
	cStunnel     = "stunnel"
	cRelay       = "Go relay"
	cPopwireOff  = "popwire (log off)"
	cPopwireLog  = "popwire (full log)"
	cPopwireDeny = "popwire (full log, --deny DELE)"
	cPopwireFull = "popwire (--bodies full)"
)

// isPopwire reports whether contender c is one of the popwire contenders.
func isPopwire(c string) bool { return strings.HasPrefix(c, "popwire") }

// report is everything a run prints: the environment, the per-contender summaries and notes.
type report struct {
	env         [][2]string                   // label, value
	contenders  []string                      // column order
	results     map[string]map[string]summary // contender → metric key → summary
	rounds      int
	idle        int     // idle sessions per measurement
	bigMiB      int     // size of the RETR message
	workers     int     // concurrent clients of the sessions workload
	budgetMiB   int     // --bodies-budget of the --bodies full contender
	cores       int     // the machine's cores, which bound a fetch (see machine)
	sha256      summary // GB/s of SHA-256 on one core, measured in each round; N is 0 when not measured
	notes       []string
	failures    []string // contender failures, one line each
	minHeadroom float64  // how many times faster than every proxy the direct fetch must be
}

// droppedNote returns the note for a measurement of contender c in workload w during which
// its logs dropped events (mDropped in res), or "" when they dropped none: a log that drops
// events costs less than one that writes them.
func droppedNote(c, w string, round int, res map[string]float64) string {
	n := res[mDropped]
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%s, %s, round %d: its logs dropped %.0f events, so this measurement flatters it", c, w, round, n)
}

// get returns the summary of metric key for contender c; N is 0 when it was not measured.
func (r *report) get(c, key string) summary {
	return r.results[c][key]
}

// ratio returns median(a)/median(b) for metric key, NaN when either is missing or b is zero.
func (r *report) ratio(a, b, key string) float64 {
	x, y := r.get(a, key), r.get(b, key)
	if x.N == 0 || y.N == 0 || y.Median == 0 {
		return math.NaN()
	}
	return x.Median / y.Median
}

// label returns m's label with its placeholders filled in.
func (r *report) label(m metric) string {
	return strings.NewReplacer("{big}", fmt.Sprint(r.bigMiB), "{workers}", fmt.Sprint(r.workers)).Replace(m.label)
}

// num formats a figure with about three significant digits.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "n/a"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// cell formats a summary as "median (min–max)", or "–" when it was not measured.
func cell(s summary) string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", num(s.Median), num(s.Min), num(s.Max))
}

// ratioCell formats a ratio as "1.23×", or "–".
func ratioCell(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

// markdown renders the report as Markdown: environment, results, ratios, the machine's limit,
// upstream headroom, targets, notes and failures.
func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("| environment | |\n|---|---|\n")
	for _, kv := range r.env {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], kv[1])
	}
	fmt.Fprintf(&b, "\nMedians over %d rounds (min–max in parentheses); contenders alternate within every round.\n\n", r.rounds)
	b.WriteString("| figure | unit |")
	for _, c := range r.contenders {
		fmt.Fprintf(&b, " %s |", c)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---:|", len(r.contenders)) + "\n")
	for _, m := range metrics {
		label := r.label(m)
		if m.key == mIdlePerSess {
			label = fmt.Sprintf("%s (%d sessions)", label, r.idle)
		}
		fmt.Fprintf(&b, "| %s | %s |", label, m.unit)
		for _, c := range r.contenders {
			fmt.Fprintf(&b, " %s |", cell(r.get(c, m.key)))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	b.WriteString(r.ratios())
	b.WriteString("\n")
	if m := r.machine(); m != "" {
		b.WriteString(m + "\n")
	}
	b.WriteString(r.headroom())
	b.WriteString("\n")
	b.WriteString(r.targets())
	if len(r.notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range r.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	if len(r.failures) > 0 {
		b.WriteString("\nFailures:\n")
		for _, f := range r.failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	return b.String()
}

// ratios renders each popwire figure as a ratio to stunnel and to the Go relay, the physical
// limit, for the figures that stunnel and the relay measure too.
func (r *report) ratios() string {
	var pw []string
	for _, c := range r.contenders {
		if isPopwire(c) {
			pw = append(pw, c)
		}
	}
	var b strings.Builder
	b.WriteString("Each popwire figure as a ratio to stunnel / to the Go relay (crypto/tls and io.Copy, " +
		"no POP3: the physical limit), from the same rounds:\n\n| figure |")
	for _, c := range pw {
		fmt.Fprintf(&b, " %s |", c)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(pw)) + "\n")
	for _, m := range metrics {
		if r.get(cStunnel, m.key).N == 0 && r.get(cRelay, m.key).N == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s |", r.label(m))
		for _, c := range pw {
			s, g := r.ratio(c, cStunnel, m.key), r.ratio(c, cRelay, m.key)
			if math.IsNaN(s) && math.IsNaN(g) {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(&b, " %s / %s |", ratioCell(s), ratioCell(g))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// headroom says how much faster the direct fetch is than the fastest proxy, per workload: the
// proxies are compared with each other only when the upstream is not what limits them.
func (r *report) headroom() string {
	var b strings.Builder
	b.WriteString("Upstream headroom (direct compared with the best proxy; a proxy comparison is " +
		"meaningful when the direct fetch is at least " + num(r.minHeadroom) + "× better):\n")
	for _, key := range []string{mRetrMBps, mNoopP50, mSessions} {
		m := metricOf(key)
		best := math.NaN()
		for _, c := range r.contenders {
			if c == cDirect {
				continue
			}
			v := r.ratio(cDirect, c, m.key)
			if !m.higherIsBetter && !math.IsNaN(v) {
				v = 1 / v
			}
			if math.IsNaN(best) || v < best {
				best = v
			}
		}
		verdict := "n/a"
		switch {
		case math.IsNaN(best):
		case best >= r.minHeadroom:
			verdict = "yes: the proxies are measured, not the upstream"
		default:
			verdict = "NO: this comparison partly measures the upstream and the client"
		}
		fmt.Fprintf(&b, "- %s: direct/best proxy = %s — %s\n", r.label(m), ratioCell(best), verdict)
	}
	return b.String()
}

// metricOf returns the metric whose key is key; it panics on a key that is not in metrics,
// a programming error.
func metricOf(key string) metric {
	for _, m := range metrics {
		if m.key == key {
			return m
		}
	}
	panic("bench: unknown metric " + key)
}

// target is one goal of issue 14. check returns the value shown (a ratio or a size), whether
// the goal is met, and whether it was measured at all.
type target struct {
	label func(r *report) string
	check func(r *report) (value string, met, measured bool)
}

// fixed returns a label function for a label that does not depend on the run.
func fixed(s string) func(*report) string { return func(*report) string { return s } }

// ratioAtMost is the goal median(a)/median(b) ≤ limit for metric key.
func ratioAtMost(a, b, key string, limit float64) func(r *report) (string, bool, bool) {
	return func(r *report) (string, bool, bool) {
		v := r.ratio(a, b, key)
		return ratioCell(v), v <= limit, !math.IsNaN(v)
	}
}

// ratioAtLeast is the goal median(a)/median(b) ≥ limit for metric key.
func ratioAtLeast(a, b, key string, limit float64) func(r *report) (string, bool, bool) {
	return func(r *report) (string, bool, bool) {
		v := r.ratio(a, b, key)
		return ratioCell(v), v >= limit, !math.IsNaN(v)
	}
}

// maxIdleKiB is issue 14's bound on the RSS per idle logged-in session with the full log.
const maxIdleKiB = 36

// targets are issue 14's goals, as ratios from the same run where the issue gives a ratio.
var targets = []target{
	{fixed("RETR throughput, full log ≥ 1.0× stunnel"), ratioAtLeast(cPopwireLog, cStunnel, mRetrMBps, 1)},
	{fixed("CPU per GB, full log ≤ 1.4× stunnel"), ratioAtMost(cPopwireLog, cStunnel, mRetrCPU, 1.4)},
	{fixed("CPU per GB, log off ≤ 0.9× stunnel"), ratioAtMost(cPopwireOff, cStunnel, mRetrCPU, 0.9)},
	{fixed("NOOP p50, full log ≤ 1.0× stunnel"), ratioAtMost(cPopwireLog, cStunnel, mNoopP50, 1)},
	{fixed("NOOP p99, full log ≤ 1.0× stunnel"), ratioAtMost(cPopwireLog, cStunnel, mNoopP99, 1)},
	{fixed("RETR + pipelined denied DELE ≥ 0.95× the same without --deny"), ratioAtLeast(cPopwireDeny, cPopwireLog, mPipeMBps, 0.95)},
	{fixed(fmt.Sprintf("RSS per idle session, full log ≤ %d KiB", maxIdleKiB)), func(r *report) (string, bool, bool) {
		s := r.get(cPopwireLog, mIdlePerSess)
		return num(s.Median) + " KiB", s.Median <= maxIdleKiB, s.N > 0
	}},
	{fixed("sessions/s, full log ≥ 1.2× stunnel"), ratioAtLeast(cPopwireLog, cStunnel, mSessions, 1.2)},
	{fixed("RETR throughput, --bodies full ≥ 0.8× --bodies headers"), ratioAtLeast(cPopwireFull, cPopwireLog, mRetrMBps, 0.8)},
	{func(r *report) string {
		return fmt.Sprintf("peak RSS, --bodies full ≤ --bodies headers + 2 × --bodies-budget (%d MiB)", 2*r.budgetMiB)
	}, func(r *report) (string, bool, bool) {
		full, headers := r.get(cPopwireFull, mRetrPeakMiB), r.get(cPopwireLog, mRetrPeakMiB)
		extra := full.Median - headers.Median
		return fmt.Sprintf("%+.1f MiB", extra), extra <= float64(2*r.budgetMiB), full.N > 0 && headers.N > 0
	}},
}

// targets renders the goals with their values and verdicts.
func (r *report) targets() string {
	var b strings.Builder
	b.WriteString("Targets of issue 14, from this run:\n\n| target | value | verdict |\n|---|---:|---|\n")
	for _, t := range targets {
		value, met, measured := t.check(r)
		verdict := "not measured"
		switch {
		case !measured:
			value = "–"
		case met:
			verdict = "met"
		default:
			verdict = "MISSED"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.label(r), value, verdict)
	}
	return b.String()
}
