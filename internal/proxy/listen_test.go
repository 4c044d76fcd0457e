package proxy

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/popwire/popwire/internal/popclient"
)

func TestListenerChecks(t *testing.T) {
	good, _ := pkis(t)
	tests := []struct {
		name    string
		cfg     Config
		addr    string
		tls     bool
		allow   bool // Listener.AllowRemotePlaintext
		wantErr string
	}{
		{"plaintext on a remote address", Config{Certificate: &good.leaf}, "192.0.2.10:110", false, false, "non-loopback"},
		{"plaintext on a remote address allowed", Config{Certificate: &good.leaf, AllowRemotePlaintext: true}, "192.0.2.10:110", false, false, ""},
		{"plaintext on a remote address allowed for the listener", Config{Certificate: &good.leaf}, "192.0.2.10:110", false, true, ""},
		{"TLS without a certificate", Config{}, "127.0.0.1:995", true, false, "needs a certificate"},
		{"IPv6 loopback", Config{}, "[::1]:110", false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Only the address is looked at: a listener that binds nothing stands in, so the
			// test never opens a socket beyond loopback.
			ln := addrListener{net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tt.addr))}
			err = srv.checkListener(Listener{Listener: ln, TLS: tt.tls, AllowRemotePlaintext: tt.allow})
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(tt.wantErr, "non-loopback") && !errors.Is(err, ErrRemotePlaintext) {
				t.Errorf("%v does not wrap ErrRemotePlaintext", err)
			}
		})
	}
}

// addrListener is a net.Listener that only has an address.
type addrListener struct{ addr *net.TCPAddr }

func (l addrListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l addrListener) Close() error              { return nil }
func (l addrListener) Addr() net.Addr            { return l.addr }

func TestPlaintextUpstreamNeedsOptIn(t *testing.T) {
	if _, err := New(Config{UpstreamMode: popclient.UpstreamPlaintext}); err == nil {
		t.Fatal("plaintext upstream accepted without InsecureUpstreamPlaintext")
	}
}
