package codec

import (
	"bytes"
	"testing"
)

// benchBody builds a message body of about n bytes: mail-like lines of varying length, one
// in 40 starting with a (stuffed) dot.
func benchBody(n int) []byte {
	lines := [][]byte{
		[]byte("Received: from mail.example.com (mail.example.com [192.0.2.1]) by mx.example.org\r\n"),
		[]byte("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n"),
		[]byte("incididunt ut labore et dolore magna aliqua.\r\n"),
		[]byte("\r\n"),
		[]byte("PGh0bWw+PGJvZHk+PHA+SGVsbG8sIHdvcmxkITwvcD48L2JvZHk+PC9odG1sPgo8aHRtbD48Ym9keT4=\r\n"),
	}
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		if i%40 == 39 {
			b.WriteString("..a line that starts with a dot, stuffed by the server\r\n")
			continue
		}
		b.Write(lines[i%len(lines)])
	}
	return b.Bytes()
}

// BenchmarkBody measures the tracker on a 50 MB RETR body fed in 32 KiB chunks, in steady
// state (one tracker, one RETR per iteration), with each version of scanLines. The body does
// not fit in the caches, so this measures the scan of bytes read from memory; BenchmarkBodyCached
// measures it on bytes in the cache, as a proxy's are (it scans what it has just decrypted).
func BenchmarkBody(b *testing.B) { benchBodies(b, benchBody(50<<20)) }

// BenchmarkBodyCached is BenchmarkBody with a 256 KiB body, which stays in the cache.
func BenchmarkBodyCached(b *testing.B) { benchBodies(b, benchBody(256<<10)) }

// benchBodies runs the sub-benchmarks of BenchmarkBody on body.
func benchBodies(b *testing.B, body []byte) {
	for _, bodyData := range []bool{false, true} {
		name := "count"
		if bodyData {
			name = "bodydata"
		}
		for _, sp := range scanPaths {
			b.Run(name+"/"+sp.name, func(b *testing.B) {
				tr := &Tracker{BodyData: bodyData, scan: sp.path}
				tr.Server([]byte("+OK\r\n"))
				retr, ok, end := []byte("RETR 1\r\n"), []byte("+OK\r\n"), []byte(".\r\n")
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					tr.Client(retr)
					tr.Server(ok)
					for p := body; len(p) > 0; {
						n := min(len(p), 32<<10)
						tr.Server(p[:n])
						p = p[n:]
					}
					if fs := tr.Server(end); len(fs) != 1 || fs[0].Kind != FrameBodyEnd || fs[0].Octets != int64(len(body)) {
						b.Fatalf("body end: %v", ends(fs))
					}
				}
			})
		}
	}
}

// BenchmarkNOOP measures one NOOP/+OK exchange in steady state.
func BenchmarkNOOP(b *testing.B) {
	tr := &Tracker{}
	tr.Server([]byte("+OK ready\r\n"))
	cmd, rep := []byte("NOOP\r\n"), []byte("+OK\r\n")
	b.ReportAllocs()
	for b.Loop() {
		tr.Client(cmd)
		tr.Server(rep)
	}
}
