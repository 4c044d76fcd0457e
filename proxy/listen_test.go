package proxy

import (
	"net"
	"strings"
	"testing"
)

func TestListenerChecks(t *testing.T) {
	good, _ := pkis(t)
	tests := []struct {
		name    string
		cfg     Config
		addr    string
		tls     bool
		wantErr string
	}{
		{"plaintext on all addresses", Config{Certificate: &good.leaf}, "0.0.0.0:0", false, "non-loopback"},
		{"plaintext on all addresses allowed", Config{Certificate: &good.leaf, AllowRemotePlaintext: true}, "0.0.0.0:0", false, ""},
		{"TLS without a certificate", Config{}, "127.0.0.1:0", true, "needs a certificate"},
		{"IPv6 loopback", Config{}, "[::1]:0", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", tt.addr)
			if err != nil {
				t.Skipf("cannot listen on %s: %v", tt.addr, err)
			}
			defer ln.Close()
			err = srv.checkListener(Listener{Listener: ln, TLS: tt.tls})
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestPlaintextUpstreamNeedsOptIn(t *testing.T) {
	if _, err := New(Config{UpstreamMode: UpstreamPlaintext}); err == nil {
		t.Fatal("plaintext upstream accepted without InsecureUpstreamPlaintext")
	}
}
