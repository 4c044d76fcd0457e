package proxy

import (
	"testing"

	"github.com/popwire/popwire/internal/logview"
)

// TestEventsNameEachLegsAddresses checks that the open event names the address the client
// reached and the connect event both ends of the upstream connection, as the peers see them:
// what a capture of the session (popwire view --pcap) needs.
func TestEventsNameEachLegsAddresses(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		up := newUpstream(t, false, scriptReplies(map[string]string{"QUIT": "+OK bye\r\n"}))
		p := startProxy(t, Config{}, up.addr())
		c := p.dial(t, useTLS)
		c.line(t)
		uc := up.next(t)
		c.send(t, "QUIT\r\n")
		c.rest(t)
		p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })

		listener := p.plain
		if useTLS {
			listener = p.tlsl
		}
		open := p.sink.find(t, "open", func(e logview.Event) bool { return e.Kind == logview.KindOpen })
		if open.Client != c.LocalAddr().String() || open.Local != listener {
			t.Errorf("tls=%v: open names client %q at %q; want %q at %q", useTLS, open.Client, open.Local, c.LocalAddr(), listener)
		}
		conn := p.sink.find(t, "connect", func(e logview.Event) bool { return e.Kind == logview.KindConnect })
		if conn.Leg != "upstream" || conn.Local != uc.RemoteAddr().String() || conn.Upstream != up.addr() {
			t.Errorf("tls=%v: connect leg %q from %q to %q; want upstream from %q to %q", useTLS, conn.Leg, conn.Local, conn.Upstream,
				uc.RemoteAddr(), up.addr())
		}
		for _, e := range p.sink.all() {
			if e.Kind == logview.KindConnect {
				break
			}
			if e.Kind == logview.KindGreeting || e.Kind == logview.KindTLS && e.Leg == "upstream" {
				t.Errorf("tls=%v: %s event of the upstream leg before its connect event", useTLS, e.Kind)
			}
		}
	}
}
