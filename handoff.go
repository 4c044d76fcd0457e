package main

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

// sharedPort is one open client socket of a configuration file's routes. Its accept loop
// hands each connection to the handoff of the proxy.Server that currently serves the address,
// so that a reload can give the address to a new server without closing the socket: no
// client is refused while a reload replaces the servers.
type sharedPort struct {
	ln     net.Listener
	target atomic.Pointer[handoff] // nil: no server (the port is being closed); connections are closed
	emit   func(logview.Event)     // reports accept errors
	done   chan struct{}           // closed when the accept loop has returned
}

// openPort listens on addr and starts the accept loop; connections wait (in the kernel's
// backlog) until a target is set.
func openPort(addr string, emit func(logview.Event)) (*sharedPort, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &sharedPort{ln: ln, emit: emit, done: make(chan struct{})}
	go p.acceptLoop()
	return p, nil
}

// acceptLoop accepts clients until the socket is closed, backing off on other errors as
// proxy.Server does.
func (p *sharedPort) acceptLoop() {
	defer close(p.done)
	backoff := 5 * time.Millisecond
	for {
		c, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			p.emit(logview.Event{Kind: logview.KindError, Err: "serve: accept on " + p.ln.Addr().String() + ": " + err.Error()})
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		p.deliver(c)
	}
}

// deliver gives c to the current target, waiting until its server accepts it; a target
// closed meanwhile (replaced by a reload) passes c to its successor. With no target, c is
// closed.
func (p *sharedPort) deliver(c net.Conn) {
	for {
		h := p.target.Load()
		if h == nil {
			c.Close()
			return
		}
		select {
		case h.conns <- c:
			return
		case <-h.closed:
			if p.target.Load() == h {
				c.Close()
				return
			}
		}
	}
}

// close stops accepting and waits for the accept loop to return.
func (p *sharedPort) close() {
	p.target.Store(nil)
	p.ln.Close()
	<-p.done
}

// handoff is the net.Listener a proxy.Server serves for one sharedPort: Accept returns the
// connections the port hands it; Close ends that, and leaves the socket open.
type handoff struct {
	addr   net.Addr
	conns  chan net.Conn // unbuffered: a connection is handed over only to a waiting Accept
	closed chan struct{}
	once   sync.Once
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept waits for the next connection, or returns net.ErrClosed after Close.
func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

// Close makes Accept return net.ErrClosed; the port's socket stays open.
func (h *handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

// Addr returns the socket's address.
func (h *handoff) Addr() net.Addr { return h.addr }
