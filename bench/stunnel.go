package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
)

// stunnelConfig returns a client-mode stunnel configuration that accepts plaintext on accept
// and connects with TLS to upstream, verifying the chain against caFile and the name
// upstreamName, and sending it as SNI. It logs errors only.
func stunnelConfig(accept, upstream, caFile string) string {
	return fmt.Sprintf(`foreground = yes
pid =
debug = 3

[pop3]
client = yes
accept = %s
connect = %s
CAfile = %s
verifyChain = yes
checkHost = %s
sni = %s
`, accept, upstream, caFile, upstreamName, upstreamName)
}

// stunnelContender starts a fresh stunnel for every measurement, taking part in the workloads
// runs; its stderr goes to log.
func stunnelContender(cs *children, bin, dir, upstream, caFile string, runs ...string) contender {
	n := 0
	return contender{name: cStunnel, runs: runs, start: func(ctx context.Context) (*instance, error) {
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		n++
		conf := filepath.Join(dir, fmt.Sprintf("stunnel-%d.conf", n))
		if err := os.WriteFile(conf, []byte(stunnelConfig(addr, upstream, caFile)), 0o600); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		log, err := os.OpenFile(filepath.Join(dir, "stunnel.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer log.Close()
		cmd := exec.Command(bin, conf)
		cmd.Stdout, cmd.Stderr = log, log
		return startReady(ctx, cs, cmd, addr)
	}}
}

// stunnelVersionRE finds the version in stunnel's banner ("stunnel 5.68 on x86_64-…").
var stunnelVersionRE = regexp.MustCompile(`stunnel (\d[\w.]*)`)

// stunnelVersion returns stunnel's version and the OpenSSL it runs with, from its banner.
func stunnelVersion(bin string) string {
	out, _ := exec.Command(bin, "-version").CombinedOutput()
	v := "unknown"
	if m := stunnelVersionRE.FindSubmatch(out); m != nil {
		v = string(m[1])
	}
	if m := regexp.MustCompile(`Running\s+with (OpenSSL [\w.]+)`).FindSubmatch(out); m != nil {
		v += " (" + string(m[1]) + ")"
	}
	return v
}
