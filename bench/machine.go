package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The machine's limit. During a fetch three processes share the machine's cores: the upstream
// child (it encrypts every record), the proxy (it decrypts them) and the client, which is the
// harness process itself (it reads, checks the SHA-256 of every message and scans for the
// end; for the direct contender it decrypts too). Nothing else of the harness runs then: its
// other goroutines wait on child processes, pipes and signals. So a fetch cannot run faster
// than cores / (the three processes' CPU seconds per GB together), whichever proxy it goes
// through; the report shows that bound next to each measured throughput.

// machineKeys are the metric keys of the machine's figures of one fetch workload.
type machineKeys struct {
	upstream string // CPU seconds per GB of the upstream child
	client   string // CPU seconds per GB of the harness process, the client
	total    string // upstream + proxy + client, CPU seconds per GB
	bound    string // cores / total, in MB/s: the throughput the machine allows
	ofBound  string // the measured throughput over bound
	others   string // the rest of the machine's busy time during the fetch, in cores
}

// retrKeys and pipeKeys are the metric keys of the RETR and the pipelined RETR workloads.
var (
	retrKeys = fetchKeys{mbps: mRetrMBps, cpu: mRetrCPU, peak: mRetrPeakMiB, machine: machineKeys{
		upstream: "retr_upstream_cpu_s_per_gb", client: "retr_client_cpu_s_per_gb", total: "retr_machine_cpu_s_per_gb",
		bound: "retr_machine_bound_mbps", ofBound: "retr_of_machine_bound", others: "retr_other_cores"}}
	pipeKeys = fetchKeys{mbps: mPipeMBps, cpu: mPipeCPU, machine: machineKeys{
		upstream: "pipelined_upstream_cpu_s_per_gb", client: "pipelined_client_cpu_s_per_gb", total: "pipelined_machine_cpu_s_per_gb",
		bound: "pipelined_machine_bound_mbps", ofBound: "pipelined_of_machine_bound", others: "pipelined_other_cores"}}
)

// cpuSample is the CPU time, in seconds, that the processes of a fetch and the whole machine
// had used at one moment.
type cpuSample struct {
	upstream float64 // the upstream child
	proxy    float64 // the proxy process; NaN for the direct contender, which has none
	client   float64 // the harness process
	busy     float64 // all CPUs, every process and the kernel, and the time the hypervisor stole
}

// sampleCPU reads the CPU time of the upstream child upstreamPID, of the proxy proxyPID (0
// for none), of the harness process and of the whole machine.
func sampleCPU(upstreamPID, proxyPID int) (cpuSample, error) {
	s := cpuSample{proxy: math.NaN()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, fmt.Errorf("bench: machine cpu time: %w", err)
	}
	busy, err := parseBusyTicks(b)
	if err != nil {
		return s, err
	}
	s.busy = float64(busy) / clockTicks
	if s.upstream, err = cpuSeconds(upstreamPID); err != nil {
		return s, err
	}
	if proxyPID != 0 {
		if s.proxy, err = cpuSeconds(proxyPID); err != nil {
			return s, err
		}
	}
	s.client, err = cpuSeconds(os.Getpid())
	return s, err
}

// parseBusyTicks returns the ticks all CPUs together have been busy, from the "cpu" line of a
// /proc/stat text (proc(5)): user, nice, system, irq, softirq and steal (time the hypervisor
// gave to another machine: this machine's processes could not run then either). idle and
// iowait are idle time; guest and guest_nice are counted in user and nice already.
func parseBusyTicks(stat []byte) (uint64, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) == 0 || string(f[0]) != "cpu" {
		return 0, errors.New("bench: /proc/stat: no cpu line first")
	}
	if len(f) < 9 {
		return 0, fmt.Errorf("bench: /proc/stat: %d fields on the cpu line", len(f)-1)
	}
	var busy uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system, irq softirq steal
		n, err := strconv.ParseUint(string(f[i]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/stat cpu field %d: %w", i, err)
		}
		busy += n
	}
	return busy, nil
}

// machineFigures returns the figures of a fetch of octets message octets that took took
// seconds, between the samples a and b, on a machine of cores cores, under keys: the
// throughput, the CPU seconds per GB of the proxy (NaN without one), of the upstream and of
// the client and of the three together, the bound cores / together in MB/s and the throughput
// over it (both NaN when no CPU time was seen at all), and the other processes' cores.
func machineFigures(keys fetchKeys, octets, took float64, a, b cpuSample, cores int) map[string]float64 {
	gb := octets / 1e9
	upstream, proxy, client := b.upstream-a.upstream, b.proxy-a.proxy, b.client-a.client
	ours := upstream + client
	if !math.IsNaN(proxy) {
		ours += proxy
	}
	mbps := octets / took / 1e6
	bound, ofBound := math.NaN(), math.NaN()
	if ours > 0 {
		bound = float64(cores) * 1e3 / (ours / gb)
		ofBound = mbps / bound
	}
	m := keys.machine
	return map[string]float64{
		keys.mbps:  mbps,
		keys.cpu:   proxy / gb,
		m.upstream: upstream / gb,
		m.client:   client / gb,
		m.total:    ours / gb,
		m.bound:    bound,
		m.ofBound:  ofBound,
		m.others:   (b.busy - a.busy - ours) / took,
	}
}

// hashBlock is the size of the buffer hashRate hashes: the client's read buffer (see
// timeFetches), so that the hash runs as the client's does, on data in the processor's cache.
const hashBlock = 256 << 10

// hashRate returns how many GB (10^9 octets) per second of CPU time crypto/sha256 hashes on
// one core: one buffer of hashBlock octets written times times, on a goroutine locked to its
// thread and timed by that thread's CPU clock (CLOCK_THREAD_CPUTIME_ID, in nanoseconds;
// getrusage counts a thread's time in scheduler ticks here), so that other processes on the
// machine change the figure less than they would change a wall-clock time.
func hashRate(times int) (float64, error) {
	buf := make([]byte, hashBlock)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var t0, t1 unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t0); err != nil {
		return 0, fmt.Errorf("bench: thread cpu clock: %w", err)
	}
	h := sha256.New()
	for range times {
		h.Write(buf)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t1); err != nil {
		return 0, fmt.Errorf("bench: thread cpu clock: %w", err)
	}
	took := float64(t1.Nano()-t0.Nano()) / 1e9
	if took <= 0 {
		return 0, fmt.Errorf("bench: sha-256 of %d octets took no measurable cpu time", hashBlock*times)
	}
	return float64(hashBlock) * float64(times) / took / 1e9, nil
}

// atBound is the share of the machine's bound at or above which a throughput counts as the
// machine's limit. A fetch never keeps every core busy: each of the three processes does its
// part of a byte on one thread and waits, now and then, for the one before it to fill the
// loopback socket (or the one after it to drain it), and the clocks of /proc count in 10 ms
// ticks. On the two-core machine of docs/performance.md every contender, fast or slow, ran at
// 0.83–0.89 of its bound in the measurements that other processes left alone (0.15 cores or
// less).
const atBound = 0.8

// machine renders the machine's limit of each fetch workload that measured it: one row per
// contender with its throughput, the CPU seconds per GB of the proxy, the upstream, the
// client and the three together, the bound that implies, the throughput over the bound and
// the other processes' share of the machine; then a sentence per workload saying whether the
// fastest proxy runs at the bound. It is empty when no workload measured it.
func (r *report) machine() string {
	var tables, verdicts strings.Builder
	for _, keys := range []fetchKeys{retrKeys, pipeKeys} {
		var rows []string
		measured := false
		for _, c := range r.contenders {
			if r.get(c, keys.mbps).N == 0 {
				continue
			}
			rows = append(rows, c)
			measured = measured || r.get(c, keys.machine.total).N > 0
		}
		if !measured {
			continue
		}
		name := r.label(metricOf(keys.mbps))
		name = strings.TrimSuffix(name, " throughput")
		fmt.Fprintf(&tables, "\n| %s | throughput, MB/s | proxy, s/GB | upstream, s/GB | client, s/GB | together, s/GB | "+
			"bound, MB/s | throughput / bound | other processes, cores |\n|---|"+strings.Repeat("---:|", 8)+"\n", name)
		m := keys.machine
		for _, c := range rows {
			fmt.Fprintf(&tables, "| %s |", c)
			for _, k := range []string{keys.mbps, keys.cpu, m.upstream, m.client, m.total, m.bound, m.ofBound, m.others} {
				fmt.Fprintf(&tables, " %s |", cell(r.get(c, k)))
			}
			tables.WriteString("\n")
		}
		if v := r.machineVerdict(name, keys, rows); v != "" {
			verdicts.WriteString(v + "\n")
		}
	}
	if tables.Len() == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The machine's limit: during a fetch the upstream child (TLS encryption), the proxy and the client "+
		"(the harness process: it reads, checks the SHA-256 of every message and scans for its end; for direct it decrypts "+
		"too; nothing else of the harness runs then) share the machine's %d cores, so no proxy can fetch faster than "+
		"%d / (their CPU seconds per GB together), the bound below. Other processes are the rest of the machine's busy time "+
		"during the fetch (other work, kernel time charged to no process, time the hypervisor stole), in cores. "+
		"CPU seconds from /proc in 10 ms ticks; medians of the measurements (min–max).\n", r.cores, r.cores)
	if r.sha256.N > 0 {
		fmt.Fprintf(&b, "SHA-256 on one core of this CPU, as the harness measures it in each round: %s GB/s, %s s/GB "+
			"(crypto/sha256, %d KiB writes, the hashing thread's CPU time): the client spends that per GB on its check, "+
			"and a proxy that hashes every message spends it too.\n", cell(r.sha256), num(1/r.sha256.Median), hashBlock>>10)
	}
	b.WriteString(tables.String())
	if verdicts.Len() > 0 {
		b.WriteString("\nWhether the fastest proxy runs at the machine's bound (at least " + num(atBound) + "× of it):\n")
		b.WriteString(verdicts.String())
	}
	return b.String()
}

// machineVerdict returns the sentence on whether the fastest of contenders (by median
// throughput, direct excluded) runs at the machine's bound in the workload of keys, or "" when
// none has both figures.
func (r *report) machineVerdict(name string, keys fetchKeys, contenders []string) string {
	best := ""
	for _, c := range contenders {
		if c == cDirect || r.get(c, keys.machine.ofBound).N == 0 {
			continue
		}
		if best == "" || r.get(c, keys.mbps).Median > r.get(best, keys.mbps).Median {
			best = c
		}
	}
	if best == "" {
		return ""
	}
	of := r.get(best, keys.machine.ofBound).Median
	others := r.get(best, keys.machine.others).Median
	verdict := "yes: the machine's CPU limits it, not the proxy"
	if of < atBound {
		verdict = fmt.Sprintf("NO: the upstream, the proxy and the client kept %s of the %d cores busy and other processes %s: ",
			num(of*float64(r.cores)), r.cores, num(others))
		if of+others/float64(r.cores) >= atBound {
			verdict += "the machine's CPU limits it, shared with other processes"
		} else {
			verdict += "something other than the CPU limits it"
		}
	}
	return fmt.Sprintf("- %s: the fastest proxy, %s at %s MB/s, runs at %s the machine's bound of %s MB/s — %s",
		name, best, num(r.get(best, keys.mbps).Median), ratioCell(of), num(r.get(best, keys.machine.bound).Median), verdict)
}
