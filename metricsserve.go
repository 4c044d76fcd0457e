package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/metrics"
	"github.com/popwire/popwire/internal/proxy"
)

// defaultDrainDelay is --drain-delay when --metrics is set and the flag is not: long enough for
// a load balancer checking /readyz every 2 s to see two failures (HAProxy's "inter 2s fall 2").
const defaultDrainDelay = 5 * time.Second

// metricsFlags are serve's flags for the metrics address and the drain on SIGTERM.
func metricsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "metrics", EnvVars: []string{"POPWIRE_METRICS"},
			Usage: "serve /metrics, /healthz and /readyz over HTTP on this address, e.g. 127.0.0.1:9110 (default off; loopback only unless --metrics-allow-remote)"},
		&cli.BoolFlag{Name: "metrics-allow-remote", EnvVars: []string{"POPWIRE_METRICS_ALLOW_REMOTE"},
			Usage: "allow --metrics on an address that is not loopback (the metrics and health endpoints have no authentication)"},
		&cli.DurationFlag{Name: "drain-delay", EnvVars: []string{"POPWIRE_DRAIN_DELAY"},
			Usage: "on SIGINT/SIGTERM, how long /readyz fails while the listeners still accept, before they close (default 5s with --metrics, else 0)"},
	}
}

// The HTTP server's bounds: a scraper or prober that stalls holds a connection no longer.
const (
	metricsReadHeaderTimeout = 5 * time.Second
	metricsReadTimeout       = 10 * time.Second
	metricsWriteTimeout      = 30 * time.Second
	metricsIdleTimeout       = 60 * time.Second
	metricsMaxHeaderBytes    = 16 << 10
	metricsStopTimeout       = time.Second
)

// opsServer is serve's metrics address (the registry the proxy counts into, the readiness it
// reports, the HTTP server) and its drain on SIGTERM. Without --metrics, reg and http are nil:
// nothing is counted or served, and only the drain delay applies.
type opsServer struct {
	reg    *metrics.Registry
	health metrics.Health
	http   *http.Server
	done   chan struct{} // closed when the HTTP server's Serve returned
	drain  time.Duration // --drain-delay as it applies
}

// startMetrics reads --drain-delay and, when --metrics is set, opens that address and serves
// it. A non-loopback address is a usage error without --metrics-allow-remote. The log outputs'
// dropped counts are exported.
func startMetrics(c *cli.Context, logs *serveLogs) (*opsServer, error) {
	addr := c.String("metrics")
	o := &opsServer{drain: c.Duration("drain-delay")}
	if addr != "" && !c.IsSet("drain-delay") {
		o.drain = defaultDrainDelay
	}
	if o.drain < 0 {
		return nil, usagef("--drain-delay must not be negative")
	}
	if addr == "" {
		return o, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if !proxy.IsLoopback(ln.Addr()) && !c.Bool("metrics-allow-remote") {
		ln.Close()
		return nil, usagef("--metrics %s is not a loopback address: anyone who reaches it reads the metrics; add --metrics-allow-remote to accept that", addr)
	}
	o.reg, o.done = metrics.New(), make(chan struct{})
	for _, out := range logs.outputs {
		o.reg.DroppedFunc(out.name, out.async.Dropped)
	}
	o.http = &http.Server{Handler: o.reg.Mux(&o.health), ReadHeaderTimeout: metricsReadHeaderTimeout, ReadTimeout: metricsReadTimeout,
		WriteTimeout: metricsWriteTimeout, IdleTimeout: metricsIdleTimeout, MaxHeaderBytes: metricsMaxHeaderBytes}
	go serveMetrics(o.http, ln, o.done)
	return o, nil
}

// serveMetrics serves the metrics address until it is shut down, then closes done. An error
// of the listener only ends the metrics; the proxy serves on.
func serveMetrics(srv *http.Server, ln net.Listener, done chan<- struct{}) {
	defer close(done)
	_ = srv.Serve(ln)
}

// ready marks the process ready: the listeners are open.
func (o *opsServer) ready() { o.health.SetReady() }

// drainThenClose turns /readyz to 503, then lets the listeners accept for the drain delay, so
// that a load balancer sees the failure before new connections would be refused.
func (o *opsServer) drainThenClose() {
	o.health.SetNotReady("draining: popwire is shutting down")
	time.Sleep(o.drain)
}

// stop shuts the HTTP server down, for at most metricsStopTimeout, then closes what is left.
func (o *opsServer) stop() {
	if o.http == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), metricsStopTimeout)
	defer cancel()
	if o.http.Shutdown(ctx) != nil {
		o.http.Close()
	}
	<-o.done
}
