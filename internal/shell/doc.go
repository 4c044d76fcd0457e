// Package shell is `popwire shell`: an interactive POP3 client for talking to a server by
// hand. Replies are framed by the codec (through popclient), so multi-line replies — LIST,
// UIDL, CAPA, RETR, TOP, a bare AUTH — and a -ERR to any of them end by themselves, and are
// printed in colour like popwire's transcript.
//
// Secrets never reach the screen or the history: a bare PASS asks for the password without
// echo, a typed "PASS secret" is shown and remembered as "PASS [redacted]", and SASL answers
// are read without echo. Ctrl-C and Ctrl-D leave without sending QUIT (only QUIT commits
// deletions, RFC 1939 §6); a script (one command per line) runs the same way unattended.
package shell
