package audit

import (
	"bytes"
	"testing"
)

// BenchmarkMessage50MiB audits a 50 MiB RETR fed in 32 KiB pieces, as the proxy's read buffer
// delivers it. Allocations per op are those of the header block and Result; Write itself does
// not allocate once the header is complete (TestMessageAllocs).
func BenchmarkMessage50MiB(b *testing.B) {
	const size = 50 << 20
	content := make([]byte, 0, size)
	content = append(content, multipart...)
	line := []byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n")
	for len(content)+len(line) <= size {
		content = append(content, line...)
	}
	content = append(content, bytes.Repeat([]byte("x"), size-len(content))...)

	const chunk = 32 << 10
	var m Message
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		m.Reset()
		for p := content; len(p) > 0; {
			n := min(chunk, len(p))
			m.Write(p[:n])
			p = p[n:]
		}
		if r := m.Result(); r.Octets != size {
			b.Fatalf("octets %d, want %d", r.Octets, size)
		}
	}
}

// BenchmarkMessageKeepBody audits a 50 MiB RETR under --bodies full: the first 16 MiB
// (DefaultMaxBody) are kept, in blocks that Result hands out as they are.
func BenchmarkMessageKeepBody(b *testing.B) {
	line := []byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n")
	content := append([]byte(multipart), bytes.Repeat(line, (50<<20)/len(line))...)
	m := Message{KeepBody: true, Budget: NewBudget(64 << 20)}
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	for b.Loop() {
		m.Reset()
		for p := content; len(p) > 0; {
			n := min(32<<10, len(p))
			m.Write(p[:n])
			p = p[n:]
		}
		if r := m.Result(); r.Body.Len() != DefaultMaxBody {
			b.Fatalf("kept %d bytes, want %d", r.Body.Len(), DefaultMaxBody)
		}
	}
}
