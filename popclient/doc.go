// Package popclient is a small POP3 client connection for popwire's probe and shell: it sends
// one command line at a time and reads the whole reply — a single line, a multi-line reply
// (RFC 1939 §3), a SASL continuation (RFC 5034 §4) or the +OK to STLS (RFC 2595 §4).
//
// popclient does no framing of its own: every byte the server sends goes through a
// codec.Tracker, which says where a reply ends, so a -ERR to a multi-line command never hangs.
// Lines sent are rendered for display through the same tracker, so a password or SASL
// response is only ever shown as codec.Redacted.
package popclient
