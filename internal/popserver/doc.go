// Package popserver is a small, correct, in-memory POP3 server (RFC 1939, RFC 2449, RFC 2595,
// RFC 3206, RFC 5034; XOAUTH2 and OAUTHBEARER, RFC 7628, once Server.CheckToken is set). It is
// the upstream of `popwire demo`, a well-behaved upstream for the proxy's tests and the fast
// upstream of the benchmark harness.
//
// A Server answers every connection a listener accepts: implicit TLS when the listener yields
// *tls.Conn values, plaintext with STLS when Server.TLSConfig is set. Maildrops live in a Store,
// shared between sessions with RFC 1939 semantics: a maildrop is locked while a session is in
// TRANSACTION, DELE only marks, and only QUIT from TRANSACTION removes marked messages.
package popserver
