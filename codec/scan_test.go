package codec

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"testing"
)

// firstRuled returns the offset of the first byte of p that scanLines must not skip, or
// len(p): a byte at a time, the reference for scanLines.
func firstRuled(p []byte) int {
	for k, c := range p {
		switch {
		case c == '\n' && (k == 0 || p[k-1] != '\r'):
			return k
		case c == '.' && k > 0 && p[k-1] == '\n':
			return k
		}
	}
	return len(p)
}

// scanPaths are the versions of scanLines the tests compare with scanPlain, by name.
var scanPaths = []struct {
	name string
	path scanPath
}{{"fast", scanFast}, {"baseline", scanBaseline}}

// checkScanLines fails t unless scanLines, on path, keeps its contract on p: nothing it skips
// needs a rule, its line count is right, and on amd64 it stops right at the first byte that
// needs a rule, or at most 16 bytes before the end of p.
func checkScanLines(t *testing.T, p []byte, path scanPath) {
	t.Helper()
	n, lines := scanLines(p, path)
	stop := firstRuled(p)
	if n < 0 || n > stop {
		t.Fatalf("scanLines(%q, %d) = %d, past the first byte that needs a rule (%d)", p, path, n, stop)
	}
	if want := bytes.Count(p[:n], []byte("\n")); lines != want {
		t.Fatalf("scanLines(%q, %d) = %d, %d lines; p[:%d] has %d", p, path, n, lines, n, want)
	}
	if runtime.GOARCH == "amd64" && n != stop && n+16 < len(p) {
		t.Fatalf("scanLines(%q, %d) = %d, stops short of %d and more than 16 bytes before the end", p, path, n, stop)
	}
}

// scanInput returns n random bytes drawn mostly from the bytes the body scanner cares about.
func scanInput(r *rand.Rand, n int) []byte {
	const alphabet = "\r\n.a\r\nb"
	p := make([]byte, n)
	for i := range p {
		if r.IntN(8) == 0 {
			p[i] = alphabet[r.IntN(len(alphabet))]
		} else {
			p[i] = byte('a' + r.IntN(26))
		}
	}
	return p
}

func TestScanLines(t *testing.T) {
	for _, sp := range scanPaths {
		t.Run(sp.name, func(t *testing.T) { testScanLines(t, sp.path) })
	}
}

// testScanLines checks scanLines on path with inputs that put the bytes it looks for at every
// offset of a block, and on random ones.
func testScanLines(t *testing.T, path scanPath) {
	body := benchBody(64 << 10)
	for _, p := range [][]byte{
		nil,
		[]byte("short\r\n"),
		[]byte("\nstarts with a line feed, whose CR lies before the slice\r\n"),
		bytes.Repeat([]byte("a plain line of mail\r\n"), 200),
		bytes.Repeat([]byte("x"), 1000),
		append(bytes.Repeat([]byte("a plain line of mail\r\n"), 20), "..stuffed\r\n"...),
		append(bytes.Repeat([]byte("a plain line of mail\r\n"), 20), ".\r\n"...),
		append(bytes.Repeat([]byte("a plain line of mail\r\n"), 20), "bare\nlf\r\n"...),
		bytes.Repeat([]byte("\r\n"), 300), // 300 lines: the counters are summed on the way
		bytes.Repeat([]byte("\r\n"), 4096),
		append(bytes.Repeat([]byte("\r\n"), 4096), ".\r\n"...), // counters summed, then the stop
		body,
	} {
		checkScanLines(t, p, path)
		for i := range min(len(p), 64) {
			checkScanLines(t, p[i:], path)
			checkScanLines(t, p[:len(p)-i], path)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		checkScanLines(t, scanInput(r, r.IntN(300)), path)
	}
}

// TestScanLinesSkipsMail checks that scanLines skips mail-like text in few calls: the point of
// it is one call for many lines.
func TestScanLinesSkipsMail(t *testing.T) {
	for _, sp := range scanPaths {
		t.Run(sp.name, func(t *testing.T) { testScanLinesSkipsMail(t, sp.path) })
	}
}

// testScanLinesSkipsMail counts the calls of scanLines on path that a mail-like body takes.
func testScanLinesSkipsMail(t *testing.T, path scanPath) {
	body := benchBody(1 << 20)
	calls, lines := 0, 0
	for p := body; len(p) > 0; calls++ {
		n, l := scanLines(p, path)
		lines += l
		if n == 0 {
			n = bytes.IndexByte(p, '\n') + 1 // the rules' line, as scanData takes it
			if n == 0 {
				break
			}
			lines++
		}
		p = p[n:]
	}
	if want := bytes.Count(body, []byte("\n")); lines != want {
		t.Fatalf("%d lines counted, want %d", lines, want)
	}
	if calls > lines/4 {
		t.Errorf("%d calls for %d lines (%d dot-stuffed): want under a quarter of a call per line", calls, lines, bytes.Count(body, []byte("\n.")))
	}
}

// FuzzScanLines checks the contract of every version of scanLines on any input. Run it with:
//
//	go test -run=NONE -fuzz=FuzzScanLines -fuzztime=1m -parallel=1 ./codec
func FuzzScanLines(f *testing.F) {
	f.Add([]byte("a line\r\n..stuffed\r\n.\r\n"))
	f.Add(benchBody(4 << 10))
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, sp := range scanPaths {
			checkScanLines(t, p, sp.path)
		}
	})
}

// bodySteps is a session that fetches body as a RETR reply, split at random places (seed),
// then a NOOP; lf makes the server end its status lines in a bare LF.
func bodySteps(body []byte, seed uint64, lf bool) []step {
	eol := "\r\n"
	if lf {
		eol = "\n"
	}
	steps := []step{
		{dir: FromServer, b: []byte("+OK ready" + eol)},
		{dir: FromClient, b: []byte("RETR 1\r\n")},
		{dir: FromServer, b: []byte("+OK message follows" + eol)},
	}
	r := rand.New(rand.NewPCG(seed, seed>>32))
	for p := body; len(p) > 0; {
		n := min(len(p), 1+r.IntN(200))
		if r.IntN(4) == 0 {
			n = min(len(p), 1+r.IntN(3))
		}
		steps = append(steps, step{dir: FromServer, b: p[:n]})
		p = p[n:]
	}
	return append(steps,
		step{dir: FromServer, b: []byte("." + eol)},
		step{dir: FromClient, b: []byte("NOOP\r\n")},
		step{dir: FromServer, b: []byte("+OK" + eol)},
		step{dir: FromServer, eof: true})
}

// checkBodyScan fails t unless scanData gives the same frames with every version of scanLines
// as with one bytes.IndexByte per line, whatever the chunking.
func checkBodyScan(t *testing.T, body []byte, seed uint64) {
	t.Helper()
	lf := seed&1 != 0
	want := run(t, Tracker{BodyData: true, scan: scanPlain}, joinRuns(bodySteps(body, seed, lf)))
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"whole", joinRuns(bodySteps(body, seed, lf))},
		{"random pieces", bodySteps(body, seed, lf)},
	} {
		for _, sp := range scanPaths {
			if got := run(t, Tracker{BodyData: true, scan: sp.path}, c.steps); got != want {
				t.Fatalf("body %q in %s: scanLines (%s) gives other frames:\n--- got\n%s--- want\n%s", body, c.name, sp.name, got, want)
			}
		}
	}
}

func TestBodyScanMatchesPlain(t *testing.T) {
	checkBodyScan(t, benchBody(64<<10), 7)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		checkBodyScan(t, scanInput(r, r.IntN(2000)), uint64(i))
	}
}

// FuzzBodyScan compares scanData with every version of scanLines and without it on any body
// and chunking. Run it
// with:
//
//	go test -run=NONE -fuzz=FuzzBodyScan -fuzztime=5m -parallel=1 ./codec
func FuzzBodyScan(f *testing.F) {
	f.Add(benchBody(4<<10), uint64(0))
	f.Add([]byte("a\r\n..b\r\n.\r\nc\nd\r\n.\n"), uint64(1))
	f.Add(bytes.Repeat([]byte("0123456789abcdef\r\n"), 40), uint64(2))
	f.Fuzz(func(t *testing.T, body []byte, seed uint64) {
		checkBodyScan(t, body, seed)
	})
}
