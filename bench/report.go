package main

import (
	"fmt"
	"math"
	"strings"
)

// metric describes one row of the results table.
type metric struct {
	key, label, unit string
	higherIsBetter   bool
}

// metrics lists the table's rows in order.
var metrics = []metric{
	{mRetrMBps, "RETR 50 MiB throughput", "MB/s", true},
	{mRetrCPU, "RETR CPU of the proxy process", "s/GB", false},
	{mNoopP50, "NOOP round trip p50", "µs", false},
	{mNoopP99, "NOOP round trip p99", "µs", false},
	{mSessions, "sessions/s, 200 concurrent clients", "1/s", true},
	{mIdlePerSess, "RSS per idle logged-in session", "KiB", false},
}

// Contender names; the report compares the two popwire columns with stunnel and all proxies
// with direct.
const (
	cDirect     = "direct"
	cStunnel    = "stunnel"
	cPopwireOff = "popwire (log off)"
	cPopwireLog = "popwire (full log)"
)

// report is everything a run prints: the environment, the per-contender summaries and notes.
type report struct {
	env         [][2]string                   // label, value
	contenders  []string                      // column order
	results     map[string]map[string]summary // contender → metric key → summary
	rounds      int
	idle        int // idle sessions per measurement
	notes       []string
	failures    []string // contender failures, one line each
	maxIdleKiB  float64  // the RSS-per-session target
	minHeadroom float64  // how many times faster than every proxy the direct fetch must be
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

// markdown renders the report as Markdown: environment, results table, upstream headroom,
// targets, notes and failures.
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
	b.WriteString(" off / stunnel | full log / stunnel |\n|---|---|")
	b.WriteString(strings.Repeat("---:|", len(r.contenders)+2))
	b.WriteString("\n")
	for _, m := range metrics {
		label := m.label
		if m.key == mIdlePerSess {
			label = fmt.Sprintf("%s (%d sessions)", label, r.idle)
		}
		fmt.Fprintf(&b, "| %s | %s |", label, m.unit)
		for _, c := range r.contenders {
			fmt.Fprintf(&b, " %s |", cell(r.get(c, m.key)))
		}
		fmt.Fprintf(&b, " %s | %s |\n", ratioCell(r.ratio(cPopwireOff, cStunnel, m.key)),
			ratioCell(r.ratio(cPopwireLog, cStunnel, m.key)))
	}
	b.WriteString("\n")
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

// headroom says how much faster the direct fetch is than the fastest proxy, per workload: the
// proxies are compared with each other only when the upstream is not what limits them.
func (r *report) headroom() string {
	var b strings.Builder
	b.WriteString("Upstream headroom (direct compared with the best proxy; a proxy comparison is " +
		"meaningful when the direct fetch is at least " + num(r.minHeadroom) + "× better):\n")
	for _, m := range []metric{metrics[0], metrics[2], metrics[4]} {
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
		fmt.Fprintf(&b, "- %s: direct/best proxy = %s — %s\n", m.label, ratioCell(best), verdict)
	}
	return b.String()
}

// target is one goal of issue 7 for a popwire contender.
type target struct {
	label string
	check func(r *report, c string) (float64, bool, bool) // value, met, measured
}

// targets is the list of goals, as ratios to stunnel from the same run except the RSS bound.
var targets = []target{
	{"RETR throughput ≥ 1.0× stunnel", func(r *report, c string) (float64, bool, bool) {
		v := r.ratio(c, cStunnel, mRetrMBps)
		return v, v >= 1, !math.IsNaN(v)
	}},
	{"NOOP p50 ≤ 1.0× stunnel", func(r *report, c string) (float64, bool, bool) {
		v := r.ratio(c, cStunnel, mNoopP50)
		return v, v <= 1, !math.IsNaN(v)
	}},
	{"sessions/s ≥ 1.0× stunnel", func(r *report, c string) (float64, bool, bool) {
		v := r.ratio(c, cStunnel, mSessions)
		return v, v >= 1, !math.IsNaN(v)
	}},
	{"RSS per idle session ≤ 40 KiB", func(r *report, c string) (float64, bool, bool) {
		s := r.get(c, mIdlePerSess)
		return s.Median, s.Median <= r.maxIdleKiB, s.N > 0
	}},
	{"CPU per GB ≤ 1.0× stunnel", func(r *report, c string) (float64, bool, bool) {
		v := r.ratio(c, cStunnel, mRetrCPU)
		return v, v <= 1, !math.IsNaN(v)
	}},
}

// targets renders the goals for both popwire contenders.
func (r *report) targets() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| target | %s | %s |\n|---|---|---|\n", cPopwireOff, cPopwireLog)
	for _, t := range targets {
		fmt.Fprintf(&b, "| %s |", t.label)
		for _, c := range []string{cPopwireOff, cPopwireLog} {
			v, ok, measured := t.check(r, c)
			verdict := "not measured"
			if measured {
				verdict = "MISSED"
				if ok {
					verdict = "met"
				}
				verdict = fmt.Sprintf("%s (%s)", verdict, num(v))
			}
			fmt.Fprintf(&b, " %s |", verdict)
		}
		b.WriteString("\n")
	}
	return b.String()
}
