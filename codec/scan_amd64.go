package codec

// scanLines skips the plain part of RETR/TOP content at the start of p, in the middle of a
// line whose first byte has been looked at already: it returns a length n and the number of
// line feeds in p[:n], such that p[:n] holds no byte that needs the body scanner's rules. Such
// a byte is a line feed at p[0] (its CR, if any, lies before p), a line feed not preceded by a
// carriage return (a bare LF; RFC 1939 §3 wants CRLF), or a dot right after a line feed (a
// stuffed line or the terminator, RFC 1939 §3). n may stop short of the first such byte or of
// the end of p; 0 is always a valid answer. scanLines only finds where the rules apply;
// scanData applies them.
//
// This version is in scan_amd64.s: SSE2, part of every amd64 processor, 16 bytes a step; it
// stops less than 32 bytes before the first such byte or the end of p. scan_other.go has the
// version of other architectures.
//
//go:noescape
func scanLines(p []byte) (n, lines int)
