package codec

import (
	"bytes"
	"testing"
)

// encodeSteps turns steps into a fuzz input: an options byte (bit 0: BodyData; the rest: 0
// for the default line cap, else the cap minus 31), then per step a kind byte (0 client data,
// 1 server data, 2 client EOF, 3 server EOF, modulo 4), and for data a length byte and that
// many bytes. Steps longer than 255 bytes are cut into several.
func encodeSteps(opts Tracker, steps []step) []byte {
	o := byte(0)
	if opts.BodyData {
		o |= 1
	}
	if opts.MaxLine > 0 {
		o |= byte(min(opts.MaxLine-31, 127)) << 1
	}
	out := []byte{o}
	for _, st := range steps {
		kind := byte(st.dir - FromClient)
		if st.eof {
			out = append(out, kind+2)
			continue
		}
		for b := st.b; len(b) > 0; {
			n := min(len(b), 255)
			out = append(out, kind, byte(n))
			out = append(out, b[:n]...)
			b = b[n:]
		}
	}
	return out
}

// decodeSteps reads what encodeSteps wrote, accepting any input.
func decodeSteps(in []byte) (Tracker, []step) {
	var opts Tracker
	if len(in) == 0 {
		return opts, nil
	}
	opts.BodyData = in[0]&1 != 0
	if c := int(in[0] >> 1); c > 0 {
		opts.MaxLine = c + 31
	}
	in = in[1:]
	var steps []step
	for len(in) > 0 {
		kind := in[0] % 4
		in = in[1:]
		dir := FromClient + Direction(kind%2)
		if kind >= 2 {
			steps = append(steps, step{dir: dir, eof: true})
			continue
		}
		n := 0
		if len(in) > 0 {
			n, in = int(in[0]), in[1:]
		}
		n = min(n, len(in))
		steps = append(steps, step{dir: dir, b: in[:n]})
		in = in[n:]
	}
	return opts, steps
}

// FuzzTracker feeds sessions with several chunkings, without scanLines (scanPlain) and with its
// baseline version (scanBaseline), and through ServerTurn a reply at a time:
// it must never panic, every chunking must give the same frames, End must stay within each
// chunk, ServerTurn must stop right where a reply completes, and memory must stay bounded
// (run checks the last three). Run it with:
//
//	go test -run=NONE -fuzz=FuzzTracker -fuzztime=5m -parallel=1 ./codec
func FuzzTracker(f *testing.F) {
	for _, tr := range loadTranscripts(f) {
		if enc := encodeSteps(tr.opts, tr.steps); len(enc) <= 8<<10 {
			f.Add(enc)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		opts, steps := decodeSteps(in)
		want := run(t, opts, steps)
		for _, c := range []chunking{
			{"joined", joinRuns},
			{"bytes", func(s []step) []step { return splitEvery(s, 1) }},
			{"threes", func(s []step) []step { return splitEvery(joinRuns(s), 3) }},
			{"halves", splitHalves},
		} {
			if got := run(t, opts, c.cut(steps)); got != want {
				t.Fatalf("chunking %s gives other frames:\n--- got\n%s--- want\n%s", c.name, got, want)
			}
		}
		for _, path := range []scanPath{scanPlain, scanBaseline} {
			o := opts
			o.scan = path
			if got := run(t, o, steps); got != want {
				t.Fatalf("scan path %d gives other frames:\n--- got\n%s--- want\n%s", path, got, want)
			}
		}
		if got := runFed(t, opts, joinRuns(steps), true); got != want {
			t.Fatalf("ServerTurn a reply at a time gives other frames:\n--- got\n%s--- want\n%s", got, want)
		}
	})
}

// FuzzParse checks that ParseCommand and ParseReply never panic and that what they accept
// round-trips through String. Run it with:
//
//	go test -run=NONE -fuzz=FuzzParse -fuzztime=5m -parallel=1 ./codec
func FuzzParse(f *testing.F) {
	for _, tr := range loadTranscripts(f) {
		for _, st := range tr.steps {
			for _, l := range bytes.SplitAfter(st.b, []byte("\n")) {
				if len(l) > 0 && len(l) < 1024 {
					f.Add(l)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if c, err := ParseCommand(line); err == nil {
			c2, err := ParseCommand([]byte(c.String()))
			if err != nil || c2 != c {
				t.Fatalf("ParseCommand(%q) = %+v; String %q parses to %+v, %v", line, c, c.String(), c2, err)
			}
		}
		if r, err := ParseReply(line); err == nil {
			r2, err := ParseReply([]byte(r.String()))
			if err != nil || r2 != r {
				t.Fatalf("ParseReply(%q) = %+v; String %q parses to %+v, %v", line, r, r.String(), r2, err)
			}
		}
	})
}
