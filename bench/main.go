// Command bench measures popwire against stunnel, a naive Go relay (bench/relay: the physical
// limit) and a direct TLS fetch, in one interleaved run on loopback (issues 7 and 14). Run it
// through bench/run, which installs stunnel and builds popwire and the relay:
//
//	./bench/run [--quick] [--rounds N] [--markdown FILE]
//
// The upstream is internal/popserver serving from memory over TLS in a child process. Every
// round runs each workload (RETR of a large message, the same with DELE and RSET pipelined
// behind each RETR, NOOP round trips, sessions per second, idle-session memory) against each
// contender that takes part in it, in turn, each time with a fresh proxy process. For the
// fetches it also measures the machine's limit (see machine.go): the CPU time of the upstream
// child, the proxy and the harness's client, and the bound on throughput they imply.
// Every fetched message is checked by SHA-256; the exit status is 2 on any byte mismatch, 1 on
// any other failure, 0 otherwise.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// hashTimes is how many times hashRate hashes its buffer at the start of each round: 256 MiB,
// about an eighth of a second of one core.
const hashTimes = 1024

// options are the command-line settings of a run.
type options struct {
	quick    bool
	rounds   int
	bigMiB   int
	retrs    int
	small    int
	noops    int
	workers  int
	sessions int
	idle     int
	budget   int      // --bodies-budget of the --bodies full contender, MiB
	only     []string // --workloads: the workloads to run; nil runs all
	among    []string // --contenders: the contenders to run (by name, or popwire for all of popwire's); nil runs all
	popwire  string
	stunnel  string
	relay    string
	markdown string
	command  string
	timeout  time.Duration
}

// parseOptions reads the flags; --quick changes the defaults of the sizes and counts that were
// not given explicitly.
func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&o.quick, "quick", false, "smoke run: 2 rounds, an 8 MiB message, fewer NOOPs, sessions and idle sessions")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds (each runs every contender once per workload)")
	fs.IntVar(&o.bigMiB, "big-mib", 50, "size of the RETR message in MiB")
	fs.IntVar(&o.retrs, "retrs", 8, "RETRs of the big message per measurement (one session)")
	fs.IntVar(&o.small, "small", 4096, "size of the small message of the sessions workload, octets")
	fs.IntVar(&o.noops, "noops", 5000, "timed NOOP round trips per round")
	fs.IntVar(&o.workers, "workers", 200, "concurrent clients of the sessions workload")
	fs.IntVar(&o.sessions, "sessions", 3000, "sessions per round of the sessions workload")
	fs.IntVar(&o.idle, "idle", 10000, "idle logged-in sessions of the memory workload (capped by RLIMIT_NOFILE)")
	fs.IntVar(&o.budget, "bodies-budget", 32, "--bodies-budget of the --bodies full contender, MiB (at least 1)")
	fs.StringVar(&o.popwire, "popwire", "", "popwire binary; empty leaves the popwire contenders out")
	fs.StringVar(&o.stunnel, "stunnel", "/usr/bin/stunnel4", "stunnel binary")
	fs.StringVar(&o.relay, "relay", "", "bench/relay binary; empty leaves the Go relay out")
	fs.StringVar(&o.markdown, "markdown", "", "also write the report as Markdown to this file")
	fs.StringVar(&o.command, "command", "", "the command line to show in the Markdown report")
	fs.DurationVar(&o.timeout, "timeout", 45*time.Minute, "deadline of the whole run")
	workloadList := fs.String("workloads", "", "comma-separated workloads to run (retr, retr+dele, noop, sessions, idle); empty runs all; a partial run writes no --markdown")
	contenderList := fs.String("contenders", "", `comma-separated contenders to run (direct, stunnel, relay, "popwire" for all of popwire's, or off, log, deny, full for one); empty runs all; a partial run writes no --markdown`)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.only, err = pickNames("--workloads", *workloadList, slices.Collect(maps.Keys(workloadNames()))); err != nil {
		return nil, err
	}
	if o.among, err = pickNames("--contenders", *contenderList, slices.Collect(maps.Keys(contenderNames))); err != nil {
		return nil, err
	}
	if o.markdown != "" && (o.only != nil || o.among != nil) {
		return nil, errors.New("bench: a run with --workloads or --contenders measures part of the table: it writes no --markdown file")
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]*int{"rounds": &o.rounds, "big-mib": &o.bigMiB, "retrs": &o.retrs, "noops": &o.noops,
			"sessions": &o.sessions, "idle": &o.idle} {
			if !set[name] {
				*v = map[string]int{"rounds": 2, "big-mib": 8, "retrs": 2, "noops": 1000, "sessions": 400, "idle": 1000}[name]
			}
		}
	}
	if o.rounds < 1 || o.bigMiB < 1 || o.retrs < 1 || o.small < 64 || o.noops < 1 || o.workers < 1 || o.sessions < 1 || o.idle < 1 || o.budget < 1 {
		return nil, errors.New("bench: --rounds, --big-mib, --retrs, --noops, --workers, --sessions, --idle, --bodies-budget must be positive and --small at least 64")
	}
	return o, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-upstream-child" {
		if err := runUpstreamChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(run(o))
}

// run performs a benchmark run and returns the exit status.
func run(o *options) int {
	cs := &children{}
	dir, err := os.MkdirTemp("", "popwire-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	cleanup := func() {
		cs.killAll()
		os.RemoveAll(dir)
	}
	defer cleanup()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go stopOnSignal(sig, cleanup)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			fmt.Fprintf(os.Stderr, "bench: --timeout %v reached: stopping children\n", o.timeout)
			cleanup()
			os.Exit(1)
		}
	})
	defer stop()
	rep, status, err := measure(ctx, o, cs, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := rep.markdown()
	fmt.Println(out)
	if o.markdown != "" {
		if err := os.WriteFile(o.markdown, []byte(benchmarksFile(o, out)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	return status
}

// benchmarksFile returns the contents of BENCHMARKS.md around a report.
func benchmarksFile(o *options, report string) string {
	cmd := o.command
	if cmd == "" {
		cmd = "./bench/run"
	}
	return "# Benchmarks\n\npopwire against stunnel (client mode, verification on), a naive Go relay " +
		"(bench/relay: crypto/tls and io.Copy, plain in, verified TLS out, no POP3; the physical limit) and a " +
		"direct TLS fetch, all against internal/popserver serving from memory over TLS on loopback. Reproduce with:\n\n" +
		"```\n" + cmd + "\n```\n\n" +
		"Workloads: RETR of one large message (MB/s = 10^6 message octets per second; CPU = user+system " +
		"seconds of the proxy process per 10^9 octets, from /proc/PID/stat; peak RSS = VmHWM of the proxy " +
		"process); the same RETRs with DELE and RSET pipelined behind each, through every proxy and popwire " +
		"with `--deny DELE` (DELE refused locally, or accepted and undone by RSET); NOOP round trips on one " +
		"session; complete sessions (connect, greeting, USER/PASS, STAT, RETR of a 4 KiB message, QUIT) " +
		"from concurrent clients; VmRSS of the proxy with idle logged-in sessions minus its VmRSS " +
		"after one warm-up session. Every fetched message is checked by SHA-256. Full log = the text " +
		"transcript to a file, a JSON log (`--log-file`) and `--bodies headers`; log off = `--log-format none " +
		"--bodies none`; `--bodies full` adds the message content to the full log, under a `--bodies-budget` that " +
		"its memory target allows twice over the peak RSS of `--bodies headers` (content held within the budget, and " +
		"Go's heap growing to twice what is live). Events the logs dropped are counted from the JSON log's `dropped` " +
		"events; a figure measured while a log dropped events flatters popwire. The machine's limit: the upstream " +
		"child, the proxy and the client (the harness) share the machine's cores during a fetch, so each RETR " +
		"throughput is shown next to the bound cores / (their CPU seconds per GB together), with SHA-256's rate on " +
		"one core as the harness measures it in each round. What " +
		"limits each figure, with profiles, is in [docs/performance.md](docs/performance.md).\n\n" + report
}

// measure starts the upstream, runs the rounds and returns the report and the exit status
// (2 after a byte mismatch, 1 after another failure). err is set when the run could not start.
func measure(ctx context.Context, o *options, cs *children, dir string) (*report, int, error) {
	var notes []string
	idle, note, err := idleSessions(o.idle)
	if err != nil {
		return nil, 1, err
	}
	if note != "" {
		notes = append(notes, note)
	}
	certs, err := writeCerts(dir)
	if err != nil {
		return nil, 1, err
	}
	box := mailboxes{Big: o.bigMiB << 20, Small: o.small, Workers: o.workers, Idle: idle}
	upstream, upstreamPID, upstreamStdin, err := startUpstream(ctx, cs, certs, box)
	if err != nil {
		return nil, 1, err
	}
	defer upstreamStdin.Close()
	fmt.Fprintf(os.Stderr, "bench: upstream on %s\n", upstream)
	pl := &plan{box: box, bigSum: wireSum(makeMessage(bigSeed, box.Big)),
		smallSum: wireSum(makeMessage(smallSeed, box.Small)), retrs: o.retrs, noops: o.noops, sessions: o.sessions,
		upstream: upstreamPID, cores: runtime.NumCPU()}

	direct, err := directTLSConfig(certs.CA)
	if err != nil {
		return nil, 1, err
	}
	proxied := []string{wRetr, wPipelined, wNoop, wSessions, wIdle}
	contenders := []contender{
		{name: cDirect, runs: []string{wRetr, wNoop, wSessions}, start: func(context.Context) (*instance, error) {
			return &instance{addr: upstream, tls: direct}, nil
		}},
		stunnelContender(cs, o.stunnel, dir, upstream, certs.CA, proxied...),
	}
	if o.relay != "" {
		contenders = append(contenders, relayContender(cs, o.relay, dir, upstream, certs.CA, proxied...))
	} else {
		notes = append(notes, "no --relay binary given: the Go relay was not measured")
	}
	maxConns := idle + 2*o.workers + 16
	if o.popwire != "" {
		help, err := popwireHelp(o.popwire)
		if err != nil {
			return nil, 1, err
		}
		m := detectPopwireModes(help, maxConns, o.budget)
		notes = append(notes, m.notes...)
		pw := func(name string, extra []string, logged bool, kind traits, runs ...string) contender {
			return popwireContender(cs, name, o.popwire, dir, upstream, certs.CA, maxConns, extra, logged, m.jsonLog, kind, runs...)
		}
		contenders = append(contenders,
			pw(cPopwireOff, m.off, false, traits{}, wRetr, wNoop, wSessions, wIdle),
			pw(cPopwireLog, m.logged, true, traits{}, proxied...))
		if m.deny != nil {
			contenders = append(contenders, pw(cPopwireDeny, m.deny, true, traits{deniesDELE: true}, wPipelined))
		}
		if m.full != nil {
			contenders = append(contenders, pw(cPopwireFull, m.full, true, traits{keepsContent: true}, wRetr))
		}
	} else {
		notes = append(notes, "no --popwire binary given: popwire was not measured")
	}

	rep := &report{
		env:         environment(o.stunnel, o.popwire),
		results:     map[string]map[string]summary{},
		rounds:      o.rounds,
		idle:        idle,
		bigMiB:      o.bigMiB,
		workers:     o.workers,
		budgetMiB:   o.budget,
		cores:       pl.cores,
		notes:       notes,
		minHeadroom: 2,
	}
	vals := map[string]map[string][]float64{}
	failed := map[string]bool{}
	status := 0
	var hashRates []float64
	for _, c := range contenders {
		rep.contenders = append(rep.contenders, c.name)
		vals[c.name] = map[string][]float64{}
	}
	for round := 1; round <= o.rounds; round++ {
		if o.fetches() {
			gbps, err := hashRate(hashTimes)
			if err != nil {
				return nil, 1, err
			}
			fmt.Fprintf(os.Stderr, "bench: round %d/%d sha-256 %s GB/s\n", round, o.rounds, num(gbps))
			hashRates = append(hashRates, gbps)
		}
		for _, w := range workloads() {
			if o.only != nil && !slices.Contains(o.only, w.name) {
				continue
			}
			for _, c := range contenders {
				if failed[c.name] || !slices.Contains(c.runs, w.name) || !o.runs(c.name) {
					continue
				}
				fmt.Fprintf(os.Stderr, "bench: round %d/%d %-9s %-31s", round, o.rounds, w.name, c.name)
				res, err := runOne(ctx, c, w, pl)
				if err != nil {
					fmt.Fprintf(os.Stderr, " FAILED: %v\n", err)
					failed[c.name] = true
					rep.failures = append(rep.failures, fmt.Sprintf("%s, %s, round %d: %v", c.name, w.name, round, err))
					status = max(status, 1)
					if errors.Is(err, errMismatch) {
						status = 2
					}
					continue
				}
				for _, k := range slices.Sorted(maps.Keys(res)) {
					vals[c.name][k] = append(vals[c.name][k], res[k])
					fmt.Fprintf(os.Stderr, " %s=%s", k, num(res[k]))
				}
				fmt.Fprintln(os.Stderr)
				if n := droppedNote(c.name, w.name, round, res); n != "" {
					rep.notes = append(rep.notes, n)
				}
			}
		}
	}
	rep.sha256 = summarize(hashRates)
	for c, byMetric := range vals {
		rep.results[c] = map[string]summary{}
		for k, v := range byMetric {
			rep.results[c][k] = summarize(v)
		}
	}
	return rep, status, nil
}

// runOne starts a fresh instance of c, runs w against it and stops it. A proxy that exits
// during the workload is a failure even if the workload itself succeeded. For a popwire with a
// JSON log, the result also has the number of events its logs dropped (mDropped) and, under
// --bodies full, of the messages whose content the budget left out (mOmitted).
func runOne(ctx context.Context, c contender, w workload, pl *plan) (map[string]float64, error) {
	in, err := c.start(ctx)
	if err != nil {
		return nil, err
	}
	defer in.remove()
	res, err := w.run(ctx, in, pl)
	if err != nil {
		return nil, err
	}
	if in.proc != nil {
		if gone, err := in.proc.exited(); gone {
			return nil, fmt.Errorf("bench: proxy died during the workload: %w", err)
		}
	}
	if in.jsonLog != "" {
		in.stop()
		st, err := readLogStats(in.jsonLog)
		if err != nil {
			return nil, err
		}
		res[mDropped] = float64(st.dropped)
		if in.keepsContent {
			res[mOmitted] = float64(st.omitted)
		}
	}
	return res, nil
}

// idleSessions raises RLIMIT_NOFILE to its hard limit (children inherit it) and returns how
// many idle sessions fit: each costs a proxy two descriptors, and stunnel admits at most
// limit×125/256 clients. note explains a cap.
func idleSessions(want int) (int, string, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, "", fmt.Errorf("bench: getrlimit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, "", fmt.Errorf("bench: setrlimit: %w", err)
	}
	fit := min(int(lim.Max)*125/256-16, (int(lim.Max)-64)/2)
	if want <= fit {
		return want, "", nil
	}
	return fit, fmt.Sprintf("idle sessions capped at %d (asked for %d): the RLIMIT_NOFILE hard limit is %d "+
		"and cannot be raised here; a proxy needs two descriptors per session and stunnel admits "+
		"limit×125/256 clients", fit, want, lim.Max), nil
}

// startUpstream runs "bench -upstream-child" and returns its address, its process id and its
// stdin. The child exits when that stdin is closed or the harness dies, so the caller must keep
// it until the end.
func startUpstream(ctx context.Context, cs *children, certs certFiles, box mailboxes) (string, int, io.Closer, error) {
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, fmt.Errorf("bench: %w", err)
	}
	args := append([]string{"-upstream-child", "-cert", certs.Cert, "-key", certs.Key}, box.args()...)
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", 0, nil, fmt.Errorf("bench: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, fmt.Errorf("bench: %w", err)
	}
	proc, err := cs.start(cmd)
	if err != nil {
		return "", 0, nil, err
	}
	line := make(chan string, 1)
	go readAddress(stdout, line)
	select {
	case addr := <-line:
		if addr == "" {
			return "", 0, nil, errors.New("bench: upstream child exited before listening")
		}
		return addr, proc.pid(), stdin, nil
	case <-time.After(2 * time.Minute):
		proc.stop()
		return "", 0, nil, errors.New("bench: upstream child did not start within 2 minutes")
	case <-ctx.Done():
		return "", 0, nil, ctx.Err()
	}
}

// stopOnSignal waits for a signal on sig, then stops the children and exits with status 130.
func stopOnSignal(sig <-chan os.Signal, cleanup func()) {
	s := <-sig
	fmt.Fprintf(os.Stderr, "\nbench: %v: stopping children\n", s)
	cleanup()
	os.Exit(130)
}

// readAddress sends the first line a child prints (the address it listens on) on line, then
// drains the rest of its output.
func readAddress(stdout io.Reader, line chan<- string) {
	s, _ := bufio.NewReader(stdout).ReadString('\n')
	line <- strings.TrimSpace(s)
	io.Copy(io.Discard, stdout)
}

// contenderNames maps the words --contenders takes to the contenders they name; "popwire"
// names all of popwire's.
var contenderNames = map[string][]string{
	"direct": {cDirect}, "stunnel": {cStunnel}, "relay": {cRelay},
	"popwire": {cPopwireOff, cPopwireLog, cPopwireDeny, cPopwireFull},
	"off":     {cPopwireOff}, "log": {cPopwireLog}, "deny": {cPopwireDeny}, "full": {cPopwireFull},
}

// workloadNames returns the set of workload names --workloads takes.
func workloadNames() map[string]bool {
	names := map[string]bool{}
	for _, w := range workloads() {
		names[w.name] = true
	}
	return names
}

// pickNames splits the comma-separated list given to flag and checks each word against
// known; an empty list gives nil (everything).
func pickNames(flag, list string, known []string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var words []string
	for w := range strings.SplitSeq(list, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains(known, w) {
			slices.Sort(known)
			return nil, fmt.Errorf("bench: %s: unknown name %q (known: %s)", flag, w, strings.Join(known, ", "))
		}
		words = append(words, w)
	}
	return words, nil
}

// fetches reports whether the run has a fetch workload (RETR or the pipelined RETR), whose
// machine's figures need the SHA-256 rate of the round.
func (o *options) fetches() bool {
	return o.only == nil || slices.Contains(o.only, wRetr) || slices.Contains(o.only, wPipelined)
}

// runs reports whether the contender named c takes part under --contenders.
func (o *options) runs(c string) bool {
	if o.among == nil {
		return true
	}
	for _, w := range o.among {
		if slices.Contains(contenderNames[w], c) {
			return true
		}
	}
	return false
}
