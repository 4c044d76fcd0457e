package proxy

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// addrKey returns the client address group a per-address cap counts: the IPv4 address, or
// the /64 of an IPv6 address (one host, or one customer's LAN, gets a /64 and can pick any
// address in it). An IPv4-mapped IPv6 address counts as its IPv4 address.
func addrKey(a net.Addr) netip.Prefix {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}
	}
	ip, _ := netip.AddrFromSlice(ta.IP)
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// keyName returns an address group for a log line: the address, or the IPv6 /64.
func keyName(k netip.Prefix) string {
	if k.Addr().Is4() {
		return k.Addr().String()
	}
	return k.String()
}

// addrCounts counts the sessions of each client address group.
type addrCounts struct {
	mu sync.Mutex
	n  map[netip.Prefix]int
}

// take counts one more session for k unless k already has limit.
func (c *addrCounts) take(k netip.Prefix, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[k] >= limit {
		return false
	}
	if c.n == nil {
		c.n = make(map[netip.Prefix]int)
	}
	c.n[k]++
	return true
}

// drop counts one session of k less.
func (c *addrCounts) drop(k netip.Prefix) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[k] <= 1 {
		delete(c.n, k)
		return
	}
	c.n[k]--
}

// maxRefusing caps the clients being refused at once. A TLS refusal waits for the client's
// handshake, at most refusalHandshakeTimeout; then every refusal writes its line and lingers,
// at most lingerTimeout, for the client to take it.
const maxRefusing = 64

// refusalHandshakeTimeout bounds the handshake of a refused TLS client (or the
// HandshakeTimeout, when shorter): a client that is turned away anyway gets a few seconds.
const refusalHandshakeTimeout = 3 * time.Second

// refusal is one client being refused.
type refusal struct {
	c       net.Conn
	evicted bool // given up for a newer refusal (see refusals.start); guarded by refusals.mu
}

// refusals tracks the refusals in progress, at most maxRefusing. When every slot is taken, a
// new refusal takes the slot of the oldest refusal that waits on its client, which is closed:
// a TLS refusal in its handshake, or one lingering after its line. Silent connections cannot
// keep a real client from its -ERR line, since a real client's handshake is over, and its line
// taken, long before maxRefusing newer connections arrive. When no refusal waits on its
// client, every slot is writing its line, which is quick: the new one waits for a slot.
type refusals struct {
	mu      sync.Mutex
	free    sync.Cond // signalled when a slot frees; its L is mu (set by New)
	n       int
	waiting []*refusal // refusals waiting on their client, oldest first
}

// start takes a slot for c (waiting for one if need be) and returns its refusal. inHandshake
// says that the refusal starts with a TLS handshake, and may be given up for a newer one.
func (r *refusals) start(c net.Conn, inHandshake bool) *refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n >= maxRefusing {
		if len(r.waiting) > 0 {
			old := r.waiting[0]
			r.waiting = slices.Delete(r.waiting, 0, 1)
			old.evicted = true
			old.c.Close()
			r.n--
			break
		}
		r.free.Wait()
	}
	r.n++
	ref := &refusal{c: c}
	if inHandshake {
		r.waiting = append(r.waiting, ref)
	}
	return ref
}

// handshakeDone takes ref off the waiting list and reports whether it was not given up.
func (r *refusals) handshakeDone(ref *refusal) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unwait(ref)
	return !ref.evicted
}

// lingering puts ref back among the refusals that may be given up for a newer one, while it
// lingers after its line, and reports whether it was not given up.
func (r *refusals) lingering(ref *refusal) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref.evicted {
		return false
	}
	r.waiting = append(r.waiting, ref)
	return true
}

// finish frees ref's slot, unless it was given up (its slot is taken already).
func (r *refusals) finish(ref *refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref.evicted {
		return
	}
	r.unwait(ref)
	r.n--
	r.free.Signal()
}

// unwait removes ref from the waiting list. r.mu is held.
func (r *refusals) unwait(ref *refusal) {
	if i := slices.Index(r.waiting, ref); i >= 0 {
		r.waiting = slices.Delete(r.waiting, i, i+1)
	}
}
