package main

import (
	"math"
	"strings"
	"testing"
)

func TestParseBusyTicks(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    uint64
		wantErr bool
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice: busy is
		// 100+2+30+4+5+6, idle (7000) and iowait (50) are not, guest (9) is in user already.
		{"ten fields", "cpu  100 2 30 7000 50 4 5 6 9 0\ncpu0 50 1 15 3500 25 2 2 3 4 0\nintr 1 2\n", 147, false},
		{"eight fields", "cpu 1 1 1 1 1 1 1 1\n", 6, false},
		{"per-CPU line only", "cpu0 1 2 3 4 5 6 7 8\n", 0, true},
		{"short", "cpu  1 2 3 4 5 6 7\n", 0, true},
		{"not a number", "cpu  1 2 x 4 5 6 7 8\n", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBusyTicks([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseBusyTicks = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// near reports whether got is want within a relative 1e-9, NaN matching NaN.
func near(got, want float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

func TestMachineFigures(t *testing.T) {
	// 2 GB in 4 s on 2 cores: the upstream used 1.4 s, the proxy 1.2 s, the client 1.0 s,
	// 3.6 s together, 1.8 s/GB; the machine was busy 6.4 s, 2.8 s of it other processes.
	a := cpuSample{upstream: 10, proxy: 20, client: 30, busy: 100}
	b := cpuSample{upstream: 11.4, proxy: 21.2, client: 31, busy: 106.4}
	got := machineFigures(retrKeys, 2e9, 4, a, b, 2)
	want := map[string]float64{
		mRetrMBps:                 500,
		mRetrCPU:                  0.6,
		retrKeys.machine.upstream: 0.7,
		retrKeys.machine.client:   0.5,
		retrKeys.machine.total:    1.8,
		retrKeys.machine.bound:    2e3 / 1.8,
		retrKeys.machine.ofBound:  500 / (2e3 / 1.8),
		retrKeys.machine.others:   0.7,
	}
	if len(got) != len(want) {
		t.Errorf("machineFigures has %d figures, want %d: %v", len(got), len(want), got)
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || !near(g, w) {
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
}

func TestMachineFiguresDirect(t *testing.T) {
	// No proxy: the client decrypts itself, and the total is the upstream's and the client's.
	nan := math.NaN()
	a := cpuSample{upstream: 1, proxy: nan, client: 1, busy: 10}
	b := cpuSample{upstream: 1.5, proxy: nan, client: 2, busy: 11.5}
	got := machineFigures(retrKeys, 1e9, 1, a, b, 4)
	for k, w := range map[string]float64{
		mRetrCPU:                 nan,
		retrKeys.machine.total:   1.5,
		retrKeys.machine.bound:   4e3 / 1.5,
		retrKeys.machine.ofBound: 1e3 / (4e3 / 1.5),
		retrKeys.machine.others:  0,
	} {
		if g := got[k]; !near(g, w) {
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
}

func TestMachineFiguresNoCPU(t *testing.T) {
	// A fetch too short for the 10 ms clock of /proc shows no CPU at all: no bound, not +Inf.
	s := cpuSample{upstream: 1, proxy: 1, client: 1, busy: 1}
	got := machineFigures(pipeKeys, 1e6, 0.001, s, s, 2)
	for _, k := range []string{pipeKeys.machine.bound, pipeKeys.machine.ofBound} {
		if !math.IsNaN(got[k]) {
			t.Errorf("%s = %v, want NaN", k, got[k])
		}
	}
	if got[mPipeMBps] != 1000 {
		t.Errorf("%s = %v, want 1000", mPipeMBps, got[mPipeMBps])
	}
}

func TestHashRateMeasures(t *testing.T) {
	gbps, err := hashRate(4)
	if err != nil {
		t.Fatal(err)
	}
	if !(gbps > 0) || math.IsInf(gbps, 0) {
		t.Errorf("hashRate = %v GB/s, want a positive finite rate", gbps)
	}
}

// machineReport is sampleReport with the machine's figures of both fetch workloads.
func machineReport() *report {
	s := func(v float64) summary { return summary{Median: v, Min: v, Max: v, N: 3} }
	r := sampleReport()
	r.cores = 2
	r.sha256 = summary{Median: 2, Min: 1.9, Max: 2.1, N: 3}
	m := retrKeys.machine
	for c, f := range map[string][6]float64{
		// upstream, client, total, bound, of bound, others
		cDirect:     {0.7, 1.2, 1.9, 1053, 1.9, 0.1},
		cStunnel:    {0.7, 0.6, 2.3, 870, 0.57, 0.5},
		cRelay:      {0.7, 0.6, 1.8, 1111, 0.72, 0.1},
		cPopwireOff: {0.7, 0.6, 2.1, 952, 0.63, 0.3},
	} {
		for i, k := range []string{m.upstream, m.client, m.total, m.bound, m.ofBound, m.others} {
			r.results[c][k] = s(f[i])
		}
	}
	p := pipeKeys.machine
	for c, f := range map[string][6]float64{
		cStunnel:    {0.7, 0.6, 2.3, 870, 0.55, 0.1},
		cRelay:      {0.7, 0.6, 1.8, 1111, 0.85, 0.05},
		cPopwireLog: {0.7, 0.6, 2.8, 714, 0.56, 0.1},
	} {
		for i, k := range []string{p.upstream, p.client, p.total, p.bound, p.ofBound, p.others} {
			r.results[c][k] = s(f[i])
		}
	}
	return r
}

func TestMachineSection(t *testing.T) {
	md := machineReport().markdown()
	for _, want := range []string{
		"The machine's limit",
		"SHA-256 on one core of this CPU, as the harness measures it in each round: 2.00 (1.90–2.10) GB/s, 0.50 s/GB",
		"| RETR 50 MiB | throughput, MB/s | proxy, s/GB | upstream, s/GB | client, s/GB | together, s/GB | bound, MB/s | throughput / bound | other processes, cores |",
		"| direct | 2000 (2000–2000) | – | 0.70 (0.70–0.70) | 1.20 (1.20–1.20) | 1.90 (1.90–1.90) | 1053 (1053–1053) | 1.90 (1.90–1.90) | 0.10 (0.10–0.10) |",
		"| Go relay | 800 (800–800) | 0.50 (0.50–0.50) | 0.70 (0.70–0.70) | 0.60 (0.60–0.60) | 1.80 (1.80–1.80) | 1111 (1111–1111) | 0.72 (0.72–0.72) | 0.10 (0.10–0.10) |",
		"| RETR 50 MiB + pipelined DELE, RSET | throughput, MB/s |",
		"| popwire (full log) | 400 (400–400) | 1.50 (1.50–1.50) | 0.70 (0.70–0.70) | 0.60 (0.60–0.60) | 2.80 (2.80–2.80) | 714 (714–714) | 0.56 (0.56–0.56) | 0.10 (0.10–0.10) |",
		// RETR: the relay is the fastest proxy (800 MB/s), at 0.72 of its bound; with the
		// 0.1 cores of the others it is short of 0.8 of the machine.
		"- RETR 50 MiB: the fastest proxy, Go relay at 800 MB/s, runs at 0.72× the machine's bound of 1111 MB/s — NO: " +
			"the upstream, the proxy and the client kept 1.44 of the 2 cores busy and other processes 0.10: something other than the CPU limits it",
		"- RETR 50 MiB + pipelined DELE, RSET: the fastest proxy, Go relay at 720 MB/s, runs at 0.85× the machine's bound of 1111 MB/s — " +
			"yes: the machine's CPU limits it, not the proxy",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// The popwire contenders that ran no pipelined RETR have no row in its table.
	pipe := md[strings.Index(md, "| RETR 50 MiB + pipelined DELE, RSET | throughput"):]
	pipe = pipe[:strings.Index(pipe, "\n\n")]
	if strings.Contains(pipe, "| popwire (log off) |") || strings.Contains(pipe, "| direct |") {
		t.Errorf("the pipelined table has contenders that did not run it:\n%s", pipe)
	}
}

func TestMachineVerdictSharedCPU(t *testing.T) {
	r := machineReport()
	// The relay at 0.72 of the bound while other processes took 0.5 of the 2 cores: 0.72 +
	// 0.25 ≥ 0.8, the machine's CPU was the limit, shared with others.
	r.results[cRelay][retrKeys.machine.others] = summary{Median: 0.5, Min: 0.5, Max: 0.5, N: 3}
	want := "runs at 0.72× the machine's bound of 1111 MB/s — NO: the upstream, the proxy and the client kept 1.44 of the 2 cores busy " +
		"and other processes 0.50: the machine's CPU limits it, shared with other processes"
	if md := r.markdown(); !strings.Contains(md, want) {
		t.Errorf("markdown lacks %q:\n%s", want, md)
	}
}

func TestMachineSectionAbsent(t *testing.T) {
	// A run without the machine's figures (an older harness's, or a run of other workloads)
	// has no section for them.
	if md := sampleReport().markdown(); strings.Contains(md, "The machine's limit") {
		t.Errorf("markdown has a machine section without figures:\n%s", md)
	}
}
