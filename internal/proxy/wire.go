package proxy

import (
	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
)

// connected records that the upstream leg is open, with both of its addresses: the first
// event of that leg, before its TLS handshake is told and before its greeting.
func (s *session) connected(up *popclient.Upstream) {
	s.srv.stats.UpstreamDial(up.ConnectTime, up.TLSTime)
	s.rec.event(logview.Event{Kind: logview.KindConnect, Leg: logview.LegUpstream, Upstream: up.Raw.RemoteAddr().String(),
		Local: up.Raw.LocalAddr().String()})
}

// keyLogWarning is the warning every session logs when its TLS secrets go to a key log.
const keyLogWarning = "--keylog: this session's TLS secrets are written to the key log: anyone with that file can decrypt both legs of it from a capture"

// warnKeyLog logs keyLogWarning when the server writes a key log.
func (s *session) warnKeyLog() {
	if s.srv.cfg.KeyLog != nil {
		s.rec.event(logview.Event{Kind: logview.KindWarning, Text: keyLogWarning})
	}
}
