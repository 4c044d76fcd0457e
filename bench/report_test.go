package main

import (
	"math"
	"strings"
	"testing"
)

func TestNumAndCells(t *testing.T) {
	tests := []struct{ got, want string }{
		{num(1234.5), "1234"},
		{num(45.06), "45.1"},
		{num(0.604), "0.60"},
		{num(math.NaN()), "n/a"},
		{cell(summary{}), "–"},
		{cell(summary{Median: 30.3, Min: 9, Max: 120, N: 5}), "30.3 (9.00–120)"},
		{ratioCell(math.NaN()), "–"},
		{ratioCell(0.5), "0.50×"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// sampleReport has every contender with a figure for each metric of the workloads it runs.
func sampleReport() *report {
	s := func(v float64) summary { return summary{Median: v, Min: v, Max: v, N: 5} }
	return &report{
		env:        [][2]string{{"CPU", "Test CPU"}, {"Go", "go1.26"}},
		contenders: []string{cDirect, cStunnel, cRelay, cPopwireOff, cPopwireLog, cPopwireDeny, cPopwireFull},
		results: map[string]map[string]summary{
			cDirect:  {mRetrMBps: s(2000), mNoopP50: s(10), mNoopP99: s(20), mSessions: s(4000)},
			cStunnel: {mPipeMBps: s(480), mPipeCPU: s(1), mRetrMBps: s(500), mRetrCPU: s(1), mRetrPeakMiB: s(12), mNoopP50: s(50), mNoopP99: s(100), mSessions: s(1000), mIdlePerSess: s(70)},
			cRelay:   {mPipeMBps: s(720), mPipeCPU: s(0.5), mRetrMBps: s(800), mRetrCPU: s(0.5), mRetrPeakMiB: s(10), mNoopP50: s(40), mNoopP99: s(80), mSessions: s(1600), mIdlePerSess: s(80)},
			cPopwireOff: {mRetrMBps: s(600), mRetrCPU: s(0.8), mRetrPeakMiB: s(20), mNoopP50: s(40), mNoopP99: s(90),
				mSessions: s(1200), mIdlePerSess: s(30)},
			cPopwireLog: {mRetrMBps: s(400), mRetrCPU: s(1.5), mRetrPeakMiB: s(30), mPipeMBps: s(400), mPipeCPU: s(1.5),
				mNoopP50: s(60), mNoopP99: s(100), mSessions: s(1300), mIdlePerSess: s(35), mDropped: s(0)},
			cPopwireDeny: {mPipeMBps: s(360), mPipeCPU: s(1.6), mDropped: s(0)},
			cPopwireFull: {mRetrMBps: s(340), mRetrCPU: s(2), mRetrPeakMiB: s(100), mDropped: s(3), mOmitted: s(6)},
		},
		rounds: 5, idle: 10000, bigMiB: 50, workers: 200, budgetMiB: 32, minHeadroom: 2,
		notes:    []string{"a note"},
		failures: []string{"a failure"},
	}
}

func TestReportRatios(t *testing.T) {
	r := sampleReport()
	tests := []struct {
		a, b, key string
		want      float64
	}{
		{cPopwireOff, cStunnel, mRetrMBps, 1.2},
		{cPopwireLog, cStunnel, mRetrCPU, 1.5},
		{cPopwireLog, cRelay, mRetrCPU, 3},
		{cDirect, cStunnel, mRetrCPU, math.NaN()},
		{cPopwireDeny, cStunnel, mPipeMBps, 0.75},
		{cPopwireFull, cStunnel, mPipeMBps, math.NaN()},
		{cPopwireLog, cStunnel, mIdlePerSess, 35.0 / 70},
	}
	for _, tt := range tests {
		got := r.ratio(tt.a, tt.b, tt.key)
		if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tt.want) > 1e-9) {
			t.Errorf("ratio(%s, %s, %s) = %v, want %v", tt.a, tt.b, tt.key, got, tt.want)
		}
	}
}

func TestReportMarkdown(t *testing.T) {
	md := sampleReport().markdown()
	for _, want := range []string{
		"| CPU | Test CPU |",
		"Medians over 5 rounds",
		"| figure | unit | direct | stunnel | Go relay | popwire (log off) | popwire (full log) | popwire (full log, --deny DELE) | popwire (--bodies full) |",
		"| RETR 50 MiB throughput | MB/s | 2000 (2000–2000) | 500 (500–500) | 800 (800–800) | 600 (600–600) | 400 (400–400) | – | 340 (340–340) |",
		"| RSS per idle logged-in session (10000 sessions) | KiB | – | 70.0 (70.0–70.0) | 80.0 (80.0–80.0) | 30.0 (30.0–30.0) | 35.0 (35.0–35.0) | – | – |",
		"| messages whose content --bodies-budget left out, per measurement | messages | – | – | – | – | – | – | 6.00 (6.00–6.00) |",
		"| figure | popwire (log off) | popwire (full log) | popwire (full log, --deny DELE) | popwire (--bodies full) |",
		"| RETR 50 MiB throughput | 1.20× / 0.75× | 0.80× / 0.50× | – | 0.68× / 0.42× |",
		"| RETR CPU of the proxy process | 0.80× / 1.60× | 1.50× / 3.00× | – | 2.00× / 4.00× |",
		"| RETR 50 MiB + pipelined DELE, RSET throughput | – | 0.83× / 0.56× | 0.75× / 0.50× | – |",
		"| sessions/s, 200 concurrent clients | 1.20× / 0.75× | 1.30× / 0.81× | – | – |",
		"- RETR 50 MiB throughput: direct/best proxy = 2.50× — yes",
		"- NOOP round trip p50: direct/best proxy = 4.00× — yes",
		"- sessions/s, 200 concurrent clients: direct/best proxy = 2.50× — yes",
		"| RETR throughput, full log ≥ 1.0× stunnel | 0.80× | MISSED |",
		"| CPU per GB, full log ≤ 1.4× stunnel | 1.50× | MISSED |",
		"| CPU per GB, log off ≤ 0.9× stunnel | 0.80× | met |",
		"| NOOP p50, full log ≤ 1.0× stunnel | 1.20× | MISSED |",
		"| NOOP p99, full log ≤ 1.0× stunnel | 1.00× | met |",
		"| RETR + pipelined denied DELE ≥ 0.95× the same without --deny | 0.90× | MISSED |",
		"| RSS per idle session, full log ≤ 36 KiB | 35.0 KiB | met |",
		"| sessions/s, full log ≥ 1.2× stunnel | 1.30× | met |",
		"| RETR throughput, --bodies full ≥ 0.8× --bodies headers | 0.85× | met |",
		"| peak RSS, --bodies full ≤ --bodies headers + 2 × --bodies-budget (64 MiB) | +70.0 MiB | MISSED |",
		"- a note",
		"- a failure",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestTargetNotMeasured(t *testing.T) {
	r := sampleReport()
	delete(r.results, cPopwireDeny)
	delete(r.results, cPopwireFull)
	md := r.markdown()
	for _, want := range []string{
		"| RETR + pipelined denied DELE ≥ 0.95× the same without --deny | – | not measured |",
		"| peak RSS, --bodies full ≤ --bodies headers + 2 × --bodies-budget (64 MiB) | – | not measured |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestHeadroomTooSmall(t *testing.T) {
	r := sampleReport()
	r.results[cDirect][mRetrMBps] = summary{Median: 900, Min: 900, Max: 900, N: 5}
	if h := r.headroom(); !strings.Contains(h, "RETR 50 MiB throughput: direct/best proxy = 1.12× — NO") {
		t.Errorf("headroom does not flag the upstream:\n%s", h)
	}
}

func TestDroppedNote(t *testing.T) {
	if n := droppedNote(cPopwireLog, wSessions, 3, map[string]float64{mSessions: 900, mDropped: 712}); n !=
		"popwire (full log), sessions, round 3: its logs dropped 712 events, so this measurement flatters it" {
		t.Errorf("droppedNote = %q", n)
	}
	for _, res := range []map[string]float64{{mSessions: 900, mDropped: 0}, {mSessions: 900}} {
		if n := droppedNote(cStunnel, wSessions, 1, res); n != "" {
			t.Errorf("droppedNote(%v) = %q, want none", res, n)
		}
	}
}
