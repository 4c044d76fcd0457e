package popclient

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// blackhole makes connection attempts to hosts hang until their context ends, like
// addresses that drop packets.
func blackhole(hosts ...string) func(context.Context, string, string, syscall.RawConn) error {
	return func(ctx context.Context, _, address string, _ syscall.RawConn) error {
		if h, _, _ := net.SplitHostPort(address); slices.Contains(hosts, h) {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
}

func TestConnectSharesTimeBetweenAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	tests := []struct {
		name  string
		addrs []string
		ok    bool
	}{
		{"black hole first, then a live address", []string{"127.0.0.2", "127.0.0.1"}, true},
		{"two black holes, then a live address", []string{"127.0.0.2", "127.0.0.3", "127.0.0.1"}, true},
		{"only black holes", []string{"127.0.0.2", "127.0.0.2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Dialer{Addr: "upstream.test:" + port, control: blackhole("127.0.0.2", "127.0.0.3")}
			ctx, cancel := context.WithTimeout(t.Context(), 900*time.Millisecond)
			defer cancel()
			c, err := d.Connect(ctx, tt.addrs)
			if c != nil {
				c.Close()
			}
			if tt.ok {
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				return
			}
			var de *DialError
			if !errors.As(err, &de) || de.Step != StepConnect || !strings.Contains(err.Error(), "upstream.test") {
				t.Fatalf("Connect error %v, want a connect-step DialError naming the upstream", err)
			}
		})
	}
}

func TestAttemptTimeout(t *testing.T) {
	tests := []struct {
		remaining time.Duration
		left      int
		want      time.Duration
	}{
		{15 * time.Second, 1, 15 * time.Second},
		{15 * time.Second, 3, 5 * time.Second},
		{10 * time.Second, 4, 2500 * time.Millisecond},
		{time.Second, 0, time.Second},
		{-time.Second, 2, -time.Second / 2},
	}
	for _, tt := range tests {
		if got := attemptTimeout(tt.remaining, tt.left); got != tt.want {
			t.Errorf("attemptTimeout(%v, %d) = %v, want %v", tt.remaining, tt.left, got, tt.want)
		}
	}
}
