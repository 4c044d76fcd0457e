package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Metric keys of a round's results.
const (
	mRetrMBps    = "retr_mbps"
	mRetrCPU     = "retr_cpu_s_per_gb"
	mRetrPeakMiB = "retr_peak_rss_mib"
	mPipeMBps    = "pipelined_mbps"
	mPipeCPU     = "pipelined_cpu_s_per_gb"
	mNoopP50     = "noop_p50_us"
	mNoopP99     = "noop_p99_us"
	mSessions    = "sessions_per_s"
	mIdlePerSess = "idle_kib_per_session"
	mDropped     = "log_events_dropped"
	mOmitted     = "content_omitted"
)

// Workload names; a contender lists those it takes part in.
const (
	wRetr      = "retr"
	wPipelined = "retr+dele"
	wNoop      = "noop"
	wSessions  = "sessions"
	wIdle      = "idle"
)

// plan is what one run measures; it is fixed before the first round.
type plan struct {
	box      mailboxes
	bigSum   [sha256.Size]byte // wireSum of the big message
	smallSum [sha256.Size]byte // wireSum of the small message
	retrs    int               // RETRs of the big message per round, in one session
	upstream int               // the upstream child's process id, for its CPU time
	cores    int               // the machine's cores, for the bound of a fetch
	noops    int               // timed NOOPs per round
	sessions int               // sessions per round of the sessions workload
}

// workload is one kind of measurement.
type workload struct {
	name string
	run  func(ctx context.Context, in *instance, pl *plan) (map[string]float64, error)
}

// workloads returns the workloads in the order a round runs them.
func workloads() []workload {
	return []workload{
		{name: wRetr, run: runRetr},
		{name: wPipelined, run: runPipelined},
		{name: wNoop, run: runNoop},
		{name: wSessions, run: runSessions},
		{name: wIdle, run: runIdle},
	}
}

// runRetr fetches the big message pl.retrs times in one session: throughput in MB/s (10^6
// octets of message per second) and, for a proxy, its CPU seconds per GB (10^9 octets) during
// the transfers and its peak RSS in MiB. Several transfers per measurement keep the 10 ms
// granularity of /proc/PID/stat small against the CPU time measured.
func runRetr(ctx context.Context, in *instance, pl *plan) (map[string]float64, error) {
	return timeFetches(ctx, in, pl, retrKeys, func(p *popConn) error {
		_, err := p.retr(1, pl.bigSum)
		return err
	})
}

// runPipelined is runRetr with DELE and RSET pipelined behind every RETR (see retrPipelined),
// so that a proxy answering DELE locally must hold that answer while the body passes. It
// fails when DELE was refused by a contender that should forward it, or forwarded by one that
// should refuse it.
func runPipelined(ctx context.Context, in *instance, pl *plan) (map[string]float64, error) {
	return timeFetches(ctx, in, pl, pipeKeys, func(p *popConn) error {
		refused, err := p.retrPipelined(1, pl.bigSum)
		if err == nil && refused != in.deniesDELE {
			err = fmt.Errorf("bench: DELE refused %v, want %v", refused, in.deniesDELE)
		}
		return err
	})
}

// fetchKeys are the metric keys a timeFetches measurement reports under; an empty peak leaves
// the peak RSS out.
type fetchKeys struct {
	mbps, cpu, peak string
	machine         machineKeys
}

// timeFetches logs in as "big", runs fetch pl.retrs times and returns the throughput, the
// proxy's CPU seconds per GB, the machine's figures (see machineFigures) and, for a proxy, its
// peak RSS in MiB, under keys.
func timeFetches(ctx context.Context, in *instance, pl *plan, keys fetchKeys, fetch func(p *popConn) error) (map[string]float64, error) {
	p, err := dialPOP(ctx, in, 256<<10)
	if err != nil {
		return nil, err
	}
	defer p.c.Close()
	if err := p.login("big"); err != nil {
		return nil, err
	}
	cpu0, err := sampleCPU(pl.upstream, in.pid())
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	for range pl.retrs {
		if err := fetch(p); err != nil {
			return nil, err
		}
	}
	took := time.Since(t0).Seconds()
	cpu1, err := sampleCPU(pl.upstream, in.pid())
	if err != nil {
		return nil, err
	}
	if err := p.quit(); err != nil {
		return nil, err
	}
	res := machineFigures(keys, float64(pl.box.Big)*float64(pl.retrs), took, cpu0, cpu1, pl.cores)
	if in.proc != nil && keys.peak != "" {
		peak, err := peakRSSBytes(in.pid())
		if err != nil {
			return nil, err
		}
		res[keys.peak] = float64(peak) / (1 << 20)
	}
	return res, nil
}

// runNoop times pl.noops NOOP round trips on one logged-in session after a short warm-up.
func runNoop(ctx context.Context, in *instance, pl *plan) (map[string]float64, error) {
	p, err := dialPOP(ctx, in, 4096)
	if err != nil {
		return nil, err
	}
	defer p.c.Close()
	if err := p.login("noop"); err != nil {
		return nil, err
	}
	for range 200 {
		if _, err := p.cmd("NOOP"); err != nil {
			return nil, err
		}
	}
	rtt := make([]float64, pl.noops)
	for i := range rtt {
		t0 := time.Now()
		if _, err := p.cmd("NOOP"); err != nil {
			return nil, err
		}
		rtt[i] = float64(time.Since(t0).Nanoseconds()) / 1e3
	}
	if err := p.quit(); err != nil {
		return nil, err
	}
	slices.Sort(rtt)
	return map[string]float64{mNoopP50: percentile(rtt, 50), mNoopP99: percentile(rtt, 99)}, nil
}

// runSessions runs pl.sessions complete sessions (connect, greeting, USER/PASS, STAT, RETR of
// the small message, QUIT) from pl.box.Workers concurrent clients and returns sessions per
// second. Client i logs in as "s<i>", so no two concurrent sessions share a maildrop.
func runSessions(ctx context.Context, in *instance, pl *plan) (map[string]float64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range pl.box.Workers {
		wg.Go(func() {
			user := fmt.Sprintf("s%d", w)
			for next.Add(1) <= int64(pl.sessions) && ctx.Err() == nil {
				if err := oneSession(ctx, in, user, pl.smallSum); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(t0).Seconds()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return map[string]float64{mSessions: float64(pl.sessions) / took}, nil
}

// oneSession runs one complete session of the sessions workload.
func oneSession(ctx context.Context, in *instance, user string, sum [sha256.Size]byte) error {
	p, err := dialPOP(ctx, in, 16<<10)
	if err != nil {
		return err
	}
	defer p.c.Close()
	if err := p.login(user); err != nil {
		return err
	}
	if _, err := p.cmd("STAT"); err != nil {
		return err
	}
	if _, err := p.retr(1, sum); err != nil {
		return err
	}
	return p.quit()
}

// idleOpeners is how many clients open the idle sessions concurrently.
const idleOpeners = 32

// runIdle opens pl.box.Idle logged-in sessions ("idle<i>") and leaves them idle, then reports
// the proxy's resident memory per session: VmRSS with the sessions open minus VmRSS after one
// warm-up session, divided by the number of sessions, in KiB.
func runIdle(ctx context.Context, in *instance, pl *plan) (map[string]float64, error) {
	warm, err := dialPOP(ctx, in, 4096)
	if err != nil {
		return nil, err
	}
	if err := warm.login("noop"); err != nil {
		warm.c.Close()
		return nil, err
	}
	if err := warm.quit(); err != nil {
		return nil, err
	}
	time.Sleep(500 * time.Millisecond)
	base, err := rssBytes(in.pid())
	if err != nil {
		return nil, err
	}
	conns := make([]*popConn, pl.box.Idle)
	defer func() {
		for _, p := range conns {
			if p != nil {
				p.c.Close()
			}
		}
	}()
	err = parallel(ctx, len(conns), func(i int) error {
		p, err := dialPOP(ctx, in, 512)
		if err != nil {
			return err
		}
		conns[i] = p
		return p.login(fmt.Sprintf("idle%d", i))
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	full, err := rssBytes(in.pid())
	if err != nil {
		return nil, err
	}
	err = parallel(ctx, len(conns), func(i int) error {
		err := conns[i].quit()
		conns[i] = nil
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]float64{mIdlePerSess: float64(full-base) / float64(pl.box.Idle) / 1024}, nil
}

// parallel calls f(0)…f(n-1) from idleOpeners goroutines and returns the first error; after
// an error or cancellation no new calls start.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(idleOpeners, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}
