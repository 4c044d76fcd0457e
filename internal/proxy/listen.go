package proxy

import (
	"errors"
	"fmt"
	"net"
)

// Listener is a client listener and the kind of client leg it accepts.
type Listener struct {
	net.Listener
	TLS bool // implicit TLS (RFC 8314); false: plaintext, with STLS when a certificate exists
	// AllowRemotePlaintext permits this listener, plaintext, on an address that is not
	// loopback, as Config.AllowRemotePlaintext permits it for every listener.
	AllowRemotePlaintext bool
	// ProxyProtocol, when not nil, makes every connection start with a PROXY header from a
	// trusted load balancer (see ProxyProtocol); nil: the peer is the client.
	ProxyProtocol *ProxyProtocol
}

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("proxy: server closed")

// ErrRemotePlaintext is wrapped by the error that refuses a plaintext listener on an address
// that is not loopback without Config.AllowRemotePlaintext: a configuration mistake.
var ErrRemotePlaintext = errors.New("plaintext listener on a non-loopback address refused")

// IsLoopback reports whether a listener address only accepts local peers: a TCP address on
// a loopback IP. serve --config and --metrics use it for the same check.
func IsLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// checkListener refuses a plaintext listener on a non-loopback address unless allowed, by the
// Config or the Listener (credentials would cross the network in clear), and a TLS listener
// without a certificate.
func (s *Server) checkListener(l Listener) error {
	if err := l.ProxyProtocol.check(); err != nil {
		return fmt.Errorf("%w (listener %s)", err, l.Addr())
	}
	if l.TLS && s.clientTLS == nil {
		return fmt.Errorf("proxy: TLS listener %s needs a certificate", l.Addr())
	}
	if !l.TLS && !s.cfg.AllowRemotePlaintext && !l.AllowRemotePlaintext && !IsLoopback(l.Addr()) {
		return fmt.Errorf("proxy: %w: %s (credentials would cross the network in clear; allow it explicitly)", ErrRemotePlaintext, l.Addr())
	}
	return nil
}

// Listen opens the listeners named by Config.Listen and Config.ListenTLS, for Serve; it
// refuses the same listeners Serve does. ListenAndServe is Listen then Serve.
func (s *Server) Listen() ([]Listener, error) {
	var ls []Listener
	closeAll := func() {
		for _, l := range ls {
			l.Close()
		}
	}
	for _, spec := range []struct {
		addr string
		tls  bool
	}{{s.cfg.Listen, false}, {s.cfg.ListenTLS, true}} {
		if spec.addr == "" {
			continue
		}
		nl, err := net.Listen("tcp", spec.addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("proxy: %w", err)
		}
		l := Listener{Listener: nl, TLS: spec.tls, ProxyProtocol: s.cfg.ProxyProtocol}
		ls = append(ls, l)
		if err := s.checkListener(l); err != nil {
			closeAll()
			return nil, err
		}
	}
	if len(ls) == 0 {
		return nil, errors.New("proxy: no listener configured")
	}
	return ls, nil
}
