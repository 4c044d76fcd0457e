package main

import (
	"flag"
	"net/netip"
	"slices"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestServeProxyProtocolFlags checks that --proxy-protocol-trusted puts the PROXY protocol on
// serve's listeners with its networks, and --upstream-proxy-protocol turns on the header out.
func TestServeProxyProtocolFlags(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, tt := range []struct {
		args    []string
		trusted []netip.Prefix // nil: no PROXY protocol in
		out     bool
	}{
		{nil, nil, false},
		{[]string{"--proxy-protocol-trusted", "10.0.0.0/8,127.0.0.1/32", "--upstream-proxy-protocol"},
			[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}, true},
		{[]string{"--upstream-proxy-protocol"}, nil, true},
	} {
		cfg, err := serveConfig(serveContext(t, tt.args...))
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		switch {
		case tt.trusted == nil && cfg.ProxyProtocol != nil:
			t.Errorf("%v: PROXY protocol %+v, want none", tt.args, cfg.ProxyProtocol)
		case tt.trusted != nil && (cfg.ProxyProtocol == nil || !slices.Equal(cfg.ProxyProtocol.Trusted, tt.trusted)):
			t.Errorf("%v: PROXY protocol %+v, want trusted %v", tt.args, cfg.ProxyProtocol, tt.trusted)
		}
		if cfg.ProxyProtocolOut != tt.out {
			t.Errorf("%v: ProxyProtocolOut %v, want %v", tt.args, cfg.ProxyProtocolOut, tt.out)
		}
	}
}

// serveContext parses args as serve's flags.
func serveContext(t *testing.T, args ...string) *cli.Context {
	t.Helper()
	set := flag.NewFlagSet("serve", flag.ContinueOnError)
	for _, f := range serveCommand().Flags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cli.NewContext(cli.NewApp(), set, nil)
}
