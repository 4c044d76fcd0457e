package proxy

import (
	"github.com/popwire/popwire/logview"
	"github.com/popwire/popwire/popclient"
)

// connected records that the upstream leg is open, with both of its addresses: the first
// event of that leg, before its TLS handshake is told and before its greeting.
func (s *session) connected(up *popclient.Upstream) {
	s.rec.event(logview.Event{Kind: logview.KindConnect, Leg: "upstream", Upstream: up.Raw.RemoteAddr().String(),
		Local: up.Raw.LocalAddr().String()})
}
