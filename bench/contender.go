package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// readyTimeout bounds how long a freshly started proxy may take to accept connections.
const readyTimeout = 15 * time.Second

// instance is one running contender: where a client connects and, for a proxy, its process.
type instance struct {
	addr    string      // loopback HOST:PORT a client dials
	tls     *tls.Config // non-nil when the client speaks TLS itself (the direct contender)
	proc    *child      // the proxy process; nil for the direct contender
	jsonLog string      // popwire's JSON log, read by readLogStats after stop; "" for none
	scratch string      // a directory of the instance's log files, removed by remove; "" for none
	traits
}

// traits are what a contender's flags make of every instance, for the workloads to check. The
// zero value is a proxy that forwards every command and logs no content.
type traits struct {
	deniesDELE   bool // the proxy answers DELE locally with -ERR (popwire --deny DELE)
	keepsContent bool // the proxy logs message content (popwire --bodies full)
}

// pid returns the proxy's process id, or 0 when there is no proxy.
func (in *instance) pid() int {
	if in.proc == nil {
		return 0
	}
	return in.proc.pid()
}

// stop ends the proxy process, if any.
func (in *instance) stop() {
	if in.proc != nil {
		in.proc.stop()
	}
}

// remove stops the instance and removes its log files.
func (in *instance) remove() {
	in.stop()
	os.RemoveAll(in.scratch)
}

// contender is one way of reaching the upstream.
type contender struct {
	name  string   // column heading
	runs  []string // the workloads it takes part in, by name
	start func(ctx context.Context) (*instance, error)
}

// directTLSConfig returns the client configuration of the direct contender: the bench CA,
// name verification, and a session cache, as a real mail client keeps.
func directTLSConfig(caFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("bench: no certificate in %s", caFile)
	}
	return &tls.Config{
		RootCAs:            roots,
		ServerName:         upstreamName,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(256),
	}, nil
}

// freePort returns a loopback address whose port was free a moment ago, for a child process
// to listen on.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: free port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

// startReady starts a proxy process and returns it once it accepts on addr; a process that
// does not get there is stopped.
func startReady(ctx context.Context, cs *children, cmd *exec.Cmd, addr string) (*instance, error) {
	proc, err := cs.start(cmd)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, addr, proc); err != nil {
		proc.stop()
		return nil, err
	}
	return &instance{addr: addr, proc: proc}, nil
}

// relayContender starts a fresh bench/relay (the naive Go relay, the physical limit) for every
// measurement; its stderr goes to log.
func relayContender(cs *children, bin, dir, upstream, caFile string, runs ...string) contender {
	return contender{name: cRelay, runs: runs, start: func(ctx context.Context) (*instance, error) {
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		log, err := os.OpenFile(filepath.Join(dir, "relay.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer log.Close()
		cmd := exec.Command(bin, "-listen", addr, "-upstream", upstream, "-ca", caFile, "-name", upstreamName)
		cmd.Stdout, cmd.Stderr = log, log
		return startReady(ctx, cs, cmd, addr)
	}}
}

// waitReady polls addr until it accepts a connection, the process exits, or readyTimeout
// passes.
func waitReady(ctx context.Context, addr string, proc *child) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		if gone, err := proc.exited(); gone {
			return fmt.Errorf("bench: %s before listening on %s: %w", proc.cmd.Path, addr, err)
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bench: %s not listening on %s: %w", proc.cmd.Path, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
