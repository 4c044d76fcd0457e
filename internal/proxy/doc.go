// Package proxy is popwire's data path: client listeners (plaintext, implicit TLS, and
// plaintext upgraded by STLS), the upstream dialer, and the per-session pump that frames
// every command and reply with the codec, applies the proxy's policy (STLS, CAPA mediation,
// denied commands, required TLS) and forwards every other byte unchanged.
//
// The rules it keeps come from RFC 1939 (POP3), RFC 2449 (CAPA, pipelining), RFC 2595 (STLS)
// and RFC 8314 (implicit TLS); /work/shared/docs/pop3-reference.md §4, §6 and §7 explain them.
package proxy
