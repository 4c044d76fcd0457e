package config

import (
	"fmt"
	"net"
)

// checkClashes refuses two listeners, of any routes, that cannot both be opened or would take
// each other's clients: the same address twice, or a wildcard address (all interfaces) and
// another on the same port.
func checkClashes(routes []Route) error {
	type seen struct {
		route string
		l     Listener
	}
	byPort := map[string][]seen{}
	for _, r := range routes {
		for _, l := range r.Listeners {
			host, port, _ := net.SplitHostPort(l.Address)
			for _, o := range byPort[port] {
				oh, _, _ := net.SplitHostPort(o.l.Address)
				if host == oh || wildcard(host) || wildcard(oh) {
					return &lineError{l.Line, fmt.Sprintf("route %s: listener %s clashes with %s of route %s (line %d): one port, one listener", r.Name, l.Address, o.l.Address, o.route, o.l.Line)}
				}
			}
			byPort[port] = append(byPort[port], seen{r.Name, l})
		}
	}
	return nil
}

// wildcard reports whether host means every interface.
func wildcard(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}
