package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// popwireOpts configures one `popwire serve` process in front of the test Dovecot.
type popwireOpts struct {
	upstreamPort int      // Dovecot port; 0 means its implicit-TLS port
	upstreamTLS  string   // --upstream-tls; "" means implicit; "none" adds --insecure-upstream-plaintext
	upstreamCA   string   // --upstream-ca; "" means the CA that signed Dovecot's certificate
	logFile      bool     // pass --log-file (JSON lines) under the test's temp dir
	logPath      string   // pass --log-file FILE; overrides logFile
	stderr       *os.File // popwire's stdout and stderr; nil means a file under the test's temp dir
	args         []string // more serve flags
	env          []string // more environment variables
}

// popwireProc is a running `popwire serve`.
type popwireProc struct {
	plainPort int    // plaintext listener (STLS offered)
	tlsPort   int    // implicit-TLS listener
	plainAddr string // 127.0.0.1:plainPort
	tlsAddr   string // 127.0.0.1:tlsPort
	stderr    string // path of the captured stderr; "" when the test gave its own
	jsonLog   string // path of the --log-file, "" when not requested
	proc      *process
	stopped   bool
}

// startPopwire runs `popwire serve` between new loopback listeners and the test Dovecot, waits
// until both listeners accept, and registers a cleanup that stops it with SIGTERM and requires
// exit status 0. Its stderr is printed when the test fails.
func startPopwire(t *testing.T, d *dovecot, o popwireOpts) *popwireProc {
	t.Helper()
	bin := popwireBinary(t)
	popwireCA(t) // the local CA exists before serve needs it
	if o.upstreamPort == 0 {
		o.upstreamPort = d.tlsPort
	}
	if o.upstreamTLS == "" {
		o.upstreamTLS = "implicit"
	}
	if o.upstreamCA == "" {
		o.upstreamCA = d.ca.CertPEM
	}
	plain, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	tlsPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pw := &popwireProc{plainPort: plain, tlsPort: tlsPort, plainAddr: loopback(plain), tlsAddr: loopback(tlsPort)}
	args := []string{"serve",
		"--listen", pw.plainAddr,
		"--listen-tls", pw.tlsAddr,
		"--upstream", loopback(o.upstreamPort),
		"--upstream-tls", o.upstreamTLS,
		"--upstream-ca", o.upstreamCA,
		"--upstream-name", serverName,
	}
	if o.upstreamTLS == "none" {
		args = append(args, "--insecure-upstream-plaintext")
	}
	switch {
	case o.logPath != "":
		pw.jsonLog = o.logPath
	case o.logFile:
		pw.jsonLog = filepath.Join(dir, "popwire.jsonl")
	}
	if pw.jsonLog != "" {
		args = append(args, "--log-file", pw.jsonLog)
	}
	args = append(args, o.args...)
	out := o.stderr
	if out == nil {
		pw.stderr = filepath.Join(dir, "popwire.stderr")
		if out, err = os.Create(pw.stderr); err != nil {
			t.Fatal(err)
		}
		defer out.Close()
	}
	pw.run(t, bin, args, out, o.env)
	alive := func() bool { return !pw.proc.exited() }
	for _, addr := range []string{pw.plainAddr, pw.tlsAddr} {
		if err := waitPort(addr, 30*time.Second, alive); err != nil {
			t.Fatal(err)
		}
	}
	return pw
}

// startPopwireConfig runs `popwire serve --config path`, whose log.file is jsonLog ("" for
// none), with its stdout and stderr in a file under the test's temp dir, and registers a
// cleanup that stops it as stop does. It does not wait for the listeners, which only the file
// names: the caller waits for them, or for /readyz.
func startPopwireConfig(t *testing.T, path, jsonLog string) *popwireProc {
	t.Helper()
	bin := popwireBinary(t)
	popwireCA(t)
	pw := &popwireProc{stderr: filepath.Join(t.TempDir(), "popwire.stderr"), jsonLog: jsonLog}
	out, err := os.Create(pw.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	pw.run(t, bin, []string{"serve", "--config", path}, out, nil)
	return pw
}

// run starts bin with args, its stdout and stderr on out and env added to popwireEnv, and
// registers the cleanup that stops it and shows its output when the test failed.
func (pw *popwireProc) run(t *testing.T, bin string, args []string, out *os.File, env []string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(popwireEnv(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	var err error
	if pw.proc, err = startProcess(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pw.stop(t)
		if t.Failed() {
			t.Logf("popwire %v\n--- popwire stderr ---\n%s--- end ---", args, pw.output())
		}
	})
}

// stop sends SIGTERM once and fails t unless popwire exits 0 within its shutdown timeout.
func (pw *popwireProc) stop(t *testing.T) {
	t.Helper()
	if pw.stopped {
		return
	}
	pw.stopped = true
	early := pw.proc.exited()
	err, killed := pw.proc.stop(syscall.SIGTERM, 45*time.Second)
	switch {
	case early:
		t.Errorf("popwire exited before it was stopped: %v", err)
	case killed:
		t.Errorf("popwire did not exit within 45s of SIGTERM and was killed")
	case err != nil:
		t.Errorf("popwire exit after SIGTERM: %v (want status 0)", err)
	}
}

// output returns what popwire wrote to stdout and stderr so far.
func (pw *popwireProc) output() string {
	if pw.stderr == "" {
		return "(on the test's own pipe)\n"
	}
	data, err := os.ReadFile(pw.stderr)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return string(data)
}
