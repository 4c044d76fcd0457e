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
// This version stops either right at the first such byte or within the last 16 bytes of p,
// before any such byte. It runs scanLinesAVX2 (32 bytes a step) when the processor has AVX2 and
// path is scanFast, else scanLinesSSE2 (SSE2, part of every amd64 processor, 16 bytes a
// step); both are in scan_amd64.s. scan_other.go has the version of other architectures.
func scanLines(p []byte, path scanPath) (n, lines int) {
	if hasAVX2 && path == scanFast {
		return scanLinesAVX2(p)
	}
	return scanLinesSSE2(p)
}

// hasAVX2 reports whether the processor has AVX2 and the system saves its registers. Unlike
// the runtime's and golang.org/x/sys/cpu's, it ignores GODEBUG's cpu.avx2=off.
var hasAVX2 = cpuHasAVX2()

// cpuHasAVX2 asks the processor whether it has AVX2 and the system whether it saves the YMM
// registers, as golang.org/x/sys/cpu does (which codec may not import: it uses the standard
// library only).
func cpuHasAVX2() bool

// scanLinesSSE2 is scanLines with 16-byte SSE2 steps.
//
//go:noescape
func scanLinesSSE2(p []byte) (n, lines int)

// scanLinesAVX2 is scanLines with 32-byte AVX2 steps; only a processor with AVX2 may run it.
//
//go:noescape
func scanLinesAVX2(p []byte) (n, lines int)
