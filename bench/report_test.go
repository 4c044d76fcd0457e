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

// sampleReport has every contender with one figure per metric.
func sampleReport() *report {
	s := func(v float64) summary { return summary{Median: v, Min: v, Max: v, N: 5} }
	return &report{
		env:        [][2]string{{"CPU", "Test CPU"}, {"Go", "go1.26"}},
		contenders: []string{cDirect, cStunnel, cPopwireOff, cPopwireLog},
		results: map[string]map[string]summary{
			cDirect:     {mRetrMBps: s(2000), mNoopP50: s(10), mNoopP99: s(20), mSessions: s(4000)},
			cStunnel:    {mRetrMBps: s(500), mRetrCPU: s(1), mNoopP50: s(50), mNoopP99: s(100), mSessions: s(1000), mIdlePerSess: s(70)},
			cPopwireOff: {mRetrMBps: s(600), mRetrCPU: s(0.8), mNoopP50: s(40), mNoopP99: s(90), mSessions: s(1200), mIdlePerSess: s(30)},
			cPopwireLog: {mRetrMBps: s(400), mRetrCPU: s(1.5), mNoopP50: s(60), mNoopP99: s(150), mSessions: s(900), mIdlePerSess: s(45)},
		},
		rounds: 5, idle: 10000, maxIdleKiB: 40, minHeadroom: 2,
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
		{cDirect, cStunnel, mRetrCPU, math.NaN()},
		{cPopwireLog, cStunnel, mIdlePerSess, 45.0 / 70},
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
		"| figure | unit | direct | stunnel | popwire (log off) | popwire (full log) | off / stunnel | full log / stunnel |",
		"| RETR 50 MiB throughput | MB/s | 2000 (2000–2000) | 500 (500–500) | 600 (600–600) | 400 (400–400) | 1.20× | 0.80× |",
		"| RSS per idle logged-in session (10000 sessions) | KiB | – | 70.0 (70.0–70.0) | 30.0 (30.0–30.0) | 45.0 (45.0–45.0) | 0.43× | 0.64× |",
		"- RETR 50 MiB throughput: direct/best proxy = 3.33× — yes",
		"- NOOP round trip p50: direct/best proxy = 4.00× — yes",
		"- sessions/s, 200 concurrent clients: direct/best proxy = 3.33× — yes",
		"| RETR throughput ≥ 1.0× stunnel | met (1.20) | MISSED (0.80) |",
		"| NOOP p50 ≤ 1.0× stunnel | met (0.80) | MISSED (1.20) |",
		"| sessions/s ≥ 1.0× stunnel | met (1.20) | MISSED (0.90) |",
		"| RSS per idle session ≤ 40 KiB | met (30.0) | MISSED (45.0) |",
		"| CPU per GB ≤ 1.0× stunnel | met (0.80) | MISSED (1.50) |",
		"- a note",
		"- a failure",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestHeadroomTooSmall(t *testing.T) {
	r := sampleReport()
	r.results[cDirect][mRetrMBps] = summary{Median: 700, Min: 700, Max: 700, N: 5}
	if h := r.headroom(); !strings.Contains(h, "RETR 50 MiB throughput: direct/best proxy = 1.17× — NO") {
		t.Errorf("headroom does not flag the upstream:\n%s", h)
	}
}
