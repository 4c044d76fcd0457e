package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDrainDelay checks the drain delay each flag combination gives: 5 s with --metrics unless
// set, 0 without, and a negative one refused.
func TestDrainDelay(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 0},
		{[]string{"--drain-delay", "2s"}, 2 * time.Second},
		{[]string{"--metrics", "127.0.0.1:0"}, defaultDrainDelay},
		{[]string{"--metrics", "127.0.0.1:0", "--drain-delay", "0"}, 0},
	} {
		o, err := startMetrics(serveContext(t, tt.args...), &serveLogs{})
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if o.drain != tt.want {
			t.Errorf("%v: drain delay %v, want %v", tt.args, o.drain, tt.want)
		}
		o.stop()
	}
	_, err := startMetrics(serveContext(t, "--drain-delay", "-1s"), &serveLogs{})
	if !errors.As(err, new(usageError)) {
		t.Errorf("--drain-delay -1s: %v, want a usage error", err)
	}
}

// TestMetricsAddress checks that a non-loopback --metrics is a usage error unless allowed, and
// that the served address answers /readyz 503 until ready, then 200.
func TestMetricsAddress(t *testing.T) {
	_, err := startMetrics(serveContext(t, "--metrics", "0.0.0.0:0"), &serveLogs{})
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "--metrics-allow-remote") {
		t.Errorf("--metrics 0.0.0.0:0: %v, want a usage error naming --metrics-allow-remote", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	o, err := startMetrics(serveContext(t, "--metrics", addr), &serveLogs{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.stop()
	get := func() (int, string) {
		t.Helper()
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(fmt.Sprintf("http://%s/readyz", addr))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 503 {
		t.Errorf("before ready: %d %q", code, body)
	}
	o.ready()
	if code, body := get(); code != 200 {
		t.Errorf("ready: %d %q", code, body)
	}
	o.drain = 0
	o.drainThenClose()
	if code, body := get(); code != 503 || !strings.HasPrefix(body, "draining") {
		t.Errorf("draining: %d %q", code, body)
	}
}
