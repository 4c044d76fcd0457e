package redact

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestIndexFold compares indexFold with a plain search over lower-cased text, on random texts
// over a small alphabet so that partial and overlapping matches are common.
func TestIndexFold(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "aAbB.-@ "
	random := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		s, sub := random(r.IntN(40)), random(1+r.IntN(4))
		from := r.IntN(len(s) + 1)
		want := strings.Index(strings.ToLower(s[from:]), strings.ToLower(sub))
		if want >= 0 {
			want += from
		}
		if got := indexFold(s, sub, from); got != want {
			t.Fatalf("indexFold(%q, %q, %d) = %d, want %d", s, sub, from, got, want)
		}
	}
}
