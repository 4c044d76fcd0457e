// Package popclient is the client side of POP3 in popwire, used by the proxy for its upstream
// leg and by probe and shell.
//
// A Dialer opens a connection to a server over implicit TLS (RFC 8314), plaintext with STLS
// (RFC 2595 §4) or plaintext, verifies its certificate against LoadRoots' pool and can wait
// for its greeting; a DialError names the step that failed. Conn speaks POP3 on a connection:
// it sends one command line at a time and reads the whole reply — a single line, a multi-line
// reply (RFC 1939 §3), a SASL continuation (RFC 5034 §4) or the +OK to STLS, after which
// Conn.Upgrade runs the handshake. The Dialer's STARTTLS mode does its STLS through a Conn
// too, so the client side has one STLS exchange.
//
// Conn does no framing of its own: every byte the server sends goes through a codec.Tracker,
// which says where a reply ends, so a -ERR to a multi-line command never hangs. Lines sent are
// rendered for display through the same tracker, so a password or SASL response is only ever
// shown as codec.Redacted.
package popclient
