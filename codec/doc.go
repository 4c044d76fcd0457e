// Package codec frames POP3 traffic: it parses client commands and server replies and follows
// a whole session, in both directions and in wire order, through a Tracker.
//
// The codec is a pure state machine: it uses only the standard library, starts no goroutines
// and does no I/O. A Tracker never copies or buffers a multi-line body; it keeps at most one
// capped copy of the line in progress per direction, so its memory stays small and bounded
// whatever the input, and feeding it a session whole or one byte at a time yields the same
// frames.
//
// Standards followed:
//   - RFC 1939 (POP3): line framing, commands, states, multi-line replies and dot-stuffing,
//     the APOP timestamp;
//   - RFC 2449 (POP3 extension mechanism): CAPA, PIPELINING (replies paired with commands
//     through a FIFO), response codes, line lengths;
//   - RFC 2595 §4 (STLS): framing restarts after "+OK", and bytes injected around the
//     upgrade are reported, never framed;
//   - RFC 3206 (SYS and AUTH response codes);
//   - RFC 5034 and RFC 1734 (POP3 AUTH): initial responses, "+ " continuations, "*" cancel,
//     empty answers, security layers;
//   - RFC 6856 (UTF8 and LANG);
//   - SASL mechanisms, for what is secret on each client line: RFC 4616 (PLAIN),
//     draft-murchison-sasl-login (LOGIN), RFC 2195 (CRAM-MD5), RFC 7628 (OAUTHBEARER),
//     Google's XOAUTH2, RFC 5802 and RFC 7677 (SCRAM), RFC 2831 (DIGEST-MD5), RFC 4752
//     (GSSAPI), MS-NLMP (NTLM), RFC 4422 (EXTERNAL), RFC 4505 (ANONYMOUS).
//
// Where real servers deviate (bare LF line endings, "+" without a space, unsolicited "-ERR"
// before a disconnect) the tracker accepts what it can frame unambiguously and reports the
// deviation as a FrameAnomaly. A deviation from a rule of the standards is a finding: a
// FrameAnomaly whose Rule names the rule broken, with the side in Dir and the evidence in
// Note (see Rule); each rule is reported once per session and side. Where a deviation would
// make it guess, it does not: a "+OK" to AUTH always ends the exchange, and a client line a
// lenient server could read as another command (see ParseCommand) is no command line.
package codec
