package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// dialSTLS connects to popwire's plaintext listener and upgrades the connection with STLS,
// verifying popwire's local certificate.
func dialSTLS(t *testing.T, addr string) *popClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(c)
	for _, send := range []string{"", "STLS\r\n"} {
		if _, err := io.WriteString(c, send); err != nil {
			t.Fatal(err)
		}
		l, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("%q answered %q, %v", send, l, err)
		}
	}
	cfg, err := tlsConfig(popwireCA(t), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	p := &popClient{conn: tls.Client(c, cfg)}
	p.r = bufio.NewReader(io.TeeReader(p.conn, &p.raw))
	return p
}

// fetchFirst logs in as user (with AUTH PLAIN when sasl), retrieves message 1 and quits.
func fetchFirst(t *testing.T, p *popClient, user string, sasl bool) {
	t.Helper()
	if sasl {
		if _, err := p.cmd("AUTH PLAIN %s", plainResponse(user)); err != nil {
			t.Fatal(err)
		}
	} else if err := p.login(user); err != nil {
		t.Fatal(err)
	}
	if _, err := p.multi("RETR 1"); err != nil {
		t.Fatal(err)
	}
	if err := p.quit(); err != nil {
		t.Fatal(err)
	}
}

// plainResponse is the SASL PLAIN initial response that logs user in (RFC 4616).
func plainResponse(user string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password(user)))
}

// verbs returns the command of each "COMMAND PARAMETER" request.
func verbs(requests []string) []string {
	var vs []string
	for _, r := range requests {
		v, _, _ := strings.Cut(r, " ")
		vs = append(vs, v)
	}
	return vs
}

// logEvents reads the events of a JSON log.
func logEvents(t *testing.T, path string) []logview.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []logview.Event
	d := logview.NewDecoder(f, path)
	for {
		e, err := d.Next()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
}

// waitCloses waits until the JSON log at path holds n close events.
func waitCloses(t *testing.T, path string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d close events in %s", n, filepath.Base(path)), func() bool { return closeEvents(path) == n })
}

// loggedCommands returns, for each leg, the commands of a JSON log as tshark's POP dissector
// shows a request: "COMMAND PARAMETER". The client leg carries every command; the upstream
// leg those popwire forwarded.
func loggedCommands(evs []logview.Event) (client, upstream []string) {
	for _, e := range evs {
		if e.Kind != logview.KindCommand {
			continue
		}
		cmd, param, _ := strings.Cut(e.Text, " ")
		line := cmd + " " + param
		client = append(client, line)
		if e.Dir == logview.DirClientToServer {
			upstream = append(upstream, line)
		}
	}
	return client, upstream
}

// tshark runs tshark (its stderr, which warns about running as root, set aside) and returns
// its output lines.
func tshark(t *testing.T, args ...string) []string {
	t.Helper()
	bin := needTool(t, "tshark")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	var lines []string
	for l := range strings.Lines(string(out)) {
		lines = append(lines, strings.TrimRight(l, "\n"))
	}
	return lines
}

// requestsByPort runs tshark's POP dissector over a capture and returns each leg's requests,
// "COMMAND PARAMETER", keyed by the server port they went to.
func requestsByPort(t *testing.T, capture string, args ...string) map[int][]string {
	t.Helper()
	args = append([]string{"-r", capture}, args...)
	args = append(args, "-Y", "pop.request", "-T", "fields", "-e", "tcp.dstport", "-e", "pop.request.command", "-e", "pop.request.parameter")
	got := map[int][]string{}
	for _, l := range tshark(t, args...) {
		f := strings.Split(l, "\t")
		if len(f) != 3 || f[1] == "" {
			continue
		}
		port, _ := strconv.Atoi(f[0])
		got[port] = append(got[port], f[1]+" "+f[2])
	}
	return got
}

// decodePOP returns tshark's options that decode the given TCP ports as POP.
func decodePOP(ports ...int) []string {
	var args []string
	for _, p := range ports {
		args = append(args, "-d", fmt.Sprintf("tcp.port==%d,pop", p))
	}
	return args
}

// tcpdump captures the loopback traffic of ports to a file until the returned function is
// called, which stops it and returns the file.
func tcpdump(t *testing.T, ports ...int) func() string {
	t.Helper()
	bin := needTool(t, "tcpdump")
	dir := t.TempDir()
	capture, errPath := filepath.Join(dir, "lo.pcap"), filepath.Join(dir, "tcpdump.stderr")
	var filter []string
	for _, p := range ports {
		filter = append(filter, fmt.Sprintf("tcp port %d", p))
	}
	errFile, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	cmd := exec.Command(bin, "-i", "lo", "--immediate-mode", "-B", "65536", "-w", capture, strings.Join(filter, " or "))
	cmd.Stdout, cmd.Stderr = errFile, errFile
	proc, err := startProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() string {
		if !stopped {
			stopped = true
			err, killed := proc.stop(syscall.SIGINT, 10*time.Second)
			out, _ := os.ReadFile(errPath)
			if err != nil || killed {
				t.Fatalf("tcpdump: %v (killed %v)\n%s", err, killed, out)
			}
			if m := regexp.MustCompile(`(\d+) packets? dropped by kernel`).FindSubmatch(out); m != nil && string(m[1]) != "0" {
				t.Fatalf("tcpdump lost packets, the capture cannot be read whole:\n%s", out)
			}
		}
		return capture
	}
	t.Cleanup(func() { stop() })
	waitFor(t, "tcpdump listening", func() bool {
		out, _ := os.ReadFile(errPath)
		return strings.Contains(string(out), "listening on lo") || proc.exited()
	})
	if proc.exited() {
		out, _ := os.ReadFile(errPath)
		t.Fatalf("tcpdump exited: %s", out)
	}
	return stop
}

// TestKeyLogDecryptsBothLegs captures on loopback a session whose client upgrades with STLS to
// popwire, which reaches Dovecot over implicit TLS, with --keylog: tshark, given the key log,
// shows through Wireshark's POP dissector the commands popwire logged on both legs; without it,
// none of the encrypted ones.
//
// It does not run in parallel: the capture takes all of the shared Dovecot's traffic, and
// another test's 20 MB message would fill tcpdump's buffer and cost this session's packets.
func TestKeyLogDecryptsBothLegs(t *testing.T) {
	needTool(t, "tshark")
	d := dovecotInstance(t)
	keys := filepath.Join(t.TempDir(), "keys.log")
	pw := startPopwire(t, d, popwireOpts{logFile: true, args: []string{"--keylog", keys}})
	stop := tcpdump(t, pw.plainPort, d.tlsPort)

	fetchFirst(t, dialSTLS(t, pw.plainAddr), userKeyLog, false)
	waitCloses(t, pw.jsonLog, 1)
	time.Sleep(300 * time.Millisecond) // the last FINs reach the capture
	capture := stop()
	pw.stop(t)

	if fi, err := os.Stat(keys); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
		t.Fatalf("key log: %v, %v; want a non-empty file of mode 0600", fi, err)
	}
	evs := logEvents(t, pw.jsonLog)
	wantClient, wantUpstream := loggedCommands(evs)
	warned := false
	for _, e := range evs {
		warned = warned || e.Kind == logview.KindWarning && e.Session != "" && strings.Contains(e.Text, "--keylog")
	}
	if !warned {
		t.Error("the session's events hold no --keylog warning")
	}

	decode := []string{"-d", fmt.Sprintf("tcp.port==%d,pop", pw.plainPort), "-d", fmt.Sprintf("tls.port==%d,pop", d.tlsPort)}
	got := requestsByPort(t, capture, append([]string{"-o", "tls.keylog_file:" + keys}, decode...)...)
	if !slices.Equal(verbs(got[pw.plainPort]), verbs(wantClient)) {
		t.Errorf("client leg, decrypted: tshark shows %q, popwire logged %q", verbs(got[pw.plainPort]), verbs(wantClient))
	}
	if !slices.Equal(verbs(got[d.tlsPort]), verbs(wantUpstream)) {
		t.Errorf("upstream leg, decrypted: tshark shows %q, popwire logged %q", verbs(got[d.tlsPort]), verbs(wantUpstream))
	}
	if len(wantUpstream) < 4 || len(wantClient) != len(wantUpstream)+1 {
		t.Errorf("popwire logged %q on the client leg and %q upstream; want STLS, USER, PASS, RETR, QUIT", wantClient, wantUpstream)
	}

	without := requestsByPort(t, capture, decode...)
	if len(without[d.tlsPort]) != 0 || !slices.Equal(without[pw.plainPort], []string{"STLS "}) {
		t.Errorf("without the key log tshark shows %q upstream and %q on the client leg; want nothing but the plaintext STLS",
			without[d.tlsPort], without[pw.plainPort])
	}
}

// TestPcapShowsTheSessions exports sessions with serve --pcap (rotated on SIGHUP with the log)
// and with view --pcap from the saved log: in each capture tshark's POP dissector lists the
// commands of the JSON log on both legs, [redacted] where the log has it, and reassembles the
// message RETR fetched; each session's interface comment says what was redacted and who
// exported it.
func TestPcapShowsTheSessions(t *testing.T) {
	t.Parallel()
	needTool(t, "tshark")
	capinfos := needTool(t, "capinfos")
	d := dovecotInstance(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "sessions.pcapng")
	pw := startPopwire(t, d, popwireOpts{logFile: true, args: []string{"--pcap", pcap, "--bodies", "full"}})

	fetchFirst(t, mustDial(t, pw.tlsAddr, popwireCA(t)), userPcap, false)
	waitCloses(t, pw.jsonLog, 1)
	for _, f := range []string{pw.jsonLog, pcap} {
		if err := os.Rename(f, f+".1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new files after SIGHUP", func() bool {
		_, errLog := os.Stat(pw.jsonLog)
		_, errPcap := os.Stat(pcap)
		return errLog == nil && errPcap == nil
	})
	fetchFirst(t, dialSTLS(t, pw.plainAddr), userPcap, true)
	waitCloses(t, pw.jsonLog, 1)
	pw.stop(t)

	decode := decodePOP(pw.plainPort, pw.tlsPort, d.tlsPort)
	for _, tc := range []struct {
		name, log, capture string
		clientPort         int
	}{
		{"serve before SIGHUP", pw.jsonLog + ".1", pcap + ".1", pw.tlsPort},
		{"serve after SIGHUP", pw.jsonLog, pcap, pw.plainPort},
		{"view", pw.jsonLog + ".1", viewPcap(t, pw.jsonLog+".1"), pw.tlsPort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if fi, err := os.Stat(tc.capture); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("capture: %v, %v; want mode 0600", fi, err)
			}
			wantClient, wantUpstream := loggedCommands(logEvents(t, tc.log))
			got := requestsByPort(t, tc.capture, decode...)
			if !slices.Equal(got[tc.clientPort], wantClient) || !slices.Equal(got[d.tlsPort], wantUpstream) {
				t.Errorf("tshark shows %q on the client leg and %q upstream; the log has %q and %q",
					got[tc.clientPort], got[d.tlsPort], wantClient, wantUpstream)
			}
			redacted := 0
			for _, c := range wantClient {
				if strings.Contains(c, "[redacted]") {
					redacted++
				}
				if strings.Contains(c, "S3cr3t") || strings.Contains(c, plainResponse(userPcap)) {
					t.Errorf("a credential in the clear: %q", c)
				}
			}
			if redacted != 1 {
				t.Errorf("%d commands with [redacted], want the one login secret: %q", redacted, wantClient)
			}
			if tc.clientPort == pw.tlsPort {
				subjects := tshark(t, append(append([]string{"-r", tc.capture}, decode...), "-Y", "imf", "-T", "fields", "-e", "imf.subject")...)
				if n := strings.Count(strings.Join(subjects, "\n"), d.small[0].Subject); n != 2 {
					t.Errorf("tshark reassembles %q %d times (%q), want once on each leg", d.small[0].Subject, n, subjects)
				}
			}
			info, err := exec.Command(capinfos, tc.capture).CombinedOutput()
			if err != nil {
				t.Fatalf("capinfos: %v\n%s", err, info)
			}
			for _, w := range []string{"Exported by popwire", "[redacted]"} {
				if !strings.Contains(string(info), w) {
					t.Errorf("capinfos shows no comment with %q:\n%s", w, info)
				}
			}
		})
	}
}

// mustDial connects to popwire's implicit-TLS listener, verifying its local certificate.
func mustDial(t *testing.T, addr, ca string) *popClient {
	t.Helper()
	p, err := dialPOP(addr, ca, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// viewPcap runs popwire view --pcap over a saved log and returns the capture.
func viewPcap(t *testing.T, log string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "view.pcapng")
	if msg, err := runCmd(time.Minute, popwireEnv(), popwireBinary(t), "view", "--pcap", out, log); err != nil {
		t.Fatalf("popwire view --pcap: %v\n%s", err, msg)
	}
	return out
}
