// Package probe diagnoses a POP3 server step by step, as `popwire probe` does: DNS, TCP
// connect, TLS (implicit, or after STLS per RFC 2595 §4), the greeting, CAPA (RFC 2449), an
// optional login (USER/PASS per RFC 1939 §7 or AUTH PLAIN per RFC 5034 and RFC 4616), STAT
// and QUIT. Each step is timed and, when it fails, explained with a plain-language hint.
//
// A probe is read-only: it never sends DELE, RETR or anything else that changes the
// maildrop, so its QUIT (from AUTHORIZATION, or after STAT only) commits nothing. The
// password never appears in a Report: server lines that echo it are scrubbed.
package probe
