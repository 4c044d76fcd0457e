package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// runCmd runs name with args and env (nil: inherit) and returns its combined output. The
// command is killed after timeout.
func runCmd(timeout time.Duration, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.Bytes(), fmt.Errorf("e2e: %s timed out after %v: %w", name, timeout, err)
	}
	return out.Bytes(), err
}

// freePort returns a loopback TCP port that was free a moment ago, for a server the test
// starts. The ports come from below the kernel's ephemeral range, each once per run: a port
// the kernel hands out by itself (an outgoing connection's, a listener's on port 0) could take
// it between this check and the server's bind ("address already in use"); these it never
// hands out.
func freePort() (int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.next == 0 {
		low := ephemeralLow()
		ports.first = max(1024, low-12000)
		ports.last = low - 1
		ports.next = ports.first + rand.IntN(ports.last-ports.first)
	}
	for range ports.last - ports.first {
		p := ports.next
		ports.next++
		if ports.next > ports.last {
			ports.next = ports.first
		}
		l, err := net.Listen("tcp", loopback(p))
		if err != nil {
			continue // in use by another process
		}
		l.Close()
		return p, nil
	}
	return 0, fmt.Errorf("e2e: free port: none free in %d-%d", ports.first, ports.last)
}

// ports is freePort's state: the range it takes ports from and the next one to try.
var ports struct {
	mu                sync.Mutex
	first, last, next int
}

// ephemeralLow returns the lowest port of the kernel's ephemeral range (Linux's
// ip_local_port_range; 32768, its default, when that cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 13024 {
		return 32768
	}
	return n
}

// loopback returns "127.0.0.1:port".
func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// waitPort polls addr until a TCP connection succeeds or timeout passes; alive, when not nil,
// stops the wait early once it reports false (the server died).
func waitPort(addr string, timeout time.Duration, alive func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if alive != nil && !alive() {
			return fmt.Errorf("e2e: server for %s exited before listening", addr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("e2e: %s not listening after %v: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
