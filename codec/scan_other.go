//go:build !amd64

package codec

import "bytes"

// scanLines skips the plain part of RETR/TOP content at the start of p, as the amd64 version
// in scan_amd64.go says, with one bytes.IndexByte per line (what scanData did before it had
// the amd64 version); it stops after the last whole line it may skip. There is one version
// here, whatever path says.
func scanLines(p []byte, _ scanPath) (n, lines int) {
	for i := 0; ; {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 || i+j == 0 || p[i+j-1] != '\r' || i+j+1 >= len(p) || p[i+j+1] == '.' {
			return n, lines
		}
		i += j + 1
		n, lines = i, lines+1
	}
}
