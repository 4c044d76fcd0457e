package main

import (
	"fmt"
	"math/rand/v2"
)

// makeMessage returns a deterministic RFC 5322 message of about size octets with CRLF line
// endings and a final CRLF: a short header, then body lines of 40 to 78 printable ASCII
// characters, about one in 50 starting with '.' and one in 500 being just "." so that
// dot-stuffing is exercised. The same seed and size always give the same bytes, so the upstream
// child and the harness agree on the content without sharing memory.
func makeMessage(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x706f7077697265))
	out := make([]byte, 0, size+100)
	out = fmt.Appendf(out, "From: bench@popwire.test\r\nTo: user%d@popwire.test\r\n"+
		"Subject: benchmark message %d\r\nMessage-ID: <bench.%d@popwire.test>\r\n\r\n", seed, size, seed)
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,;:-"
	for len(out) < size {
		switch k := r.IntN(500); {
		case k == 0:
			out = append(out, ".\r\n"...)
			continue
		case k < 10:
			out = append(out, '.')
		}
		n := 40 + r.IntN(39)
		for range n {
			out = append(out, alphabet[r.IntN(len(alphabet))])
		}
		out = append(out, '\r', '\n')
	}
	return out
}
