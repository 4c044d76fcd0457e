package codec

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the -- frames -- sections of testdata/*.txt")

// A transcript is a txtar file under testdata/. Its comment may hold option lines:
//
//	option: bodydata      set Tracker.BodyData
//	option: maxline=N     set Tracker.MaxLine
//
// Its "wire" section lists the session in wire order, one segment per line:
//
//	C: bytes   the client sent bytes
//	S: bytes   the server sent bytes
//	EOF: client | server
//
// Bytes are written literally except for these escapes: \r (CR), \n (LF), \t (TAB),
// \\ (backslash), \xHH (any byte), and \{N,text} (text, itself escaped, repeated N times;
// text holds no "}").
// The line ending of the txtar file itself is never part of the bytes. Lines starting with
// "#" are comments.
//
// Its "frames" section is the golden rendering of the frames (see renderFrame). Every
// transcript is run with several chunkings (whole runs of one direction, each segment, one
// byte at a time, and for short ones each segment split at every position); all must give
// the golden frames.
type transcript struct {
	name    string
	opts    Tracker
	steps   []step
	archive *txtar.Archive
}

// step is one wire event.
type step struct {
	dir Direction
	eof bool
	b   []byte
}

func loadTranscripts(t testing.TB) []transcript {
	t.Helper()
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	var out []transcript
	for _, f := range files {
		a, err := txtar.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := parseTranscript(a)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		tr.name = f
		out = append(out, tr)
	}
	return out
}

func parseTranscript(a *txtar.Archive) (transcript, error) {
	tr := transcript{archive: a}
	for _, l := range strings.Split(string(a.Comment), "\n") {
		opt, ok := strings.CutPrefix(l, "option: ")
		if !ok {
			continue
		}
		switch {
		case opt == "bodydata":
			tr.opts.BodyData = true
		case strings.HasPrefix(opt, "maxline="):
			n, err := strconv.Atoi(strings.TrimPrefix(opt, "maxline="))
			if err != nil {
				return tr, err
			}
			tr.opts.MaxLine = n
		default:
			return tr, fmt.Errorf("unknown option %q", opt)
		}
	}
	wire := section(a, "wire")
	if wire == nil {
		return tr, fmt.Errorf("no wire section")
	}
	for _, l := range strings.Split(string(wire), "\n") {
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "C: "), strings.HasPrefix(l, "S: "):
			b, err := unescape(l[3:])
			if err != nil {
				return tr, fmt.Errorf("%q: %v", l, err)
			}
			d := FromClient
			if l[0] == 'S' {
				d = FromServer
			}
			tr.steps = append(tr.steps, step{dir: d, b: b})
		case l == "EOF: client":
			tr.steps = append(tr.steps, step{dir: FromClient, eof: true})
		case l == "EOF: server":
			tr.steps = append(tr.steps, step{dir: FromServer, eof: true})
		default:
			return tr, fmt.Errorf("bad wire line %q", l)
		}
	}
	return tr, nil
}

func section(a *txtar.Archive, name string) []byte {
	for _, f := range a.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

// unescape decodes the escapes of the wire section.
func unescape(s string) ([]byte, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		i++
		if i == len(s) {
			return nil, fmt.Errorf("trailing backslash")
		}
		switch s[i] {
		case 'r':
			b = append(b, '\r')
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case '\\':
			b = append(b, '\\')
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("short \\x")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, err
			}
			b = append(b, byte(v))
			i += 2
		case '{':
			end := strings.IndexByte(s[i:], '}')
			n, text, ok := strings.Cut(s[i+1:i+max(end, 0)], ",")
			count, err := strconv.Atoi(n)
			if end < 0 || !ok || err != nil {
				return nil, fmt.Errorf("bad \\{N,text}")
			}
			unit, err := unescape(text)
			if err != nil {
				return nil, err
			}
			b = append(b, bytes.Repeat(unit, count)...)
			i += end
		default:
			return nil, fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b, nil
}

// chunking says how the steps are cut into calls.
type chunking struct {
	name string
	cut  func([]step) []step
}

func chunkings(total int) []chunking {
	cs := []chunking{
		{"joined", joinRuns},
		{"segments", func(s []step) []step { return s }},
		{"bytes", func(s []step) []step { return splitEvery(s, 1) }},
		{"halves", splitHalves},
	}
	if total <= 2048 {
		for pos := 1; pos < total; pos++ {
			cs = append(cs, chunking{"split@" + strconv.Itoa(pos), func(s []step) []step { return splitJoinedAt(s, pos) }})
		}
	}
	return cs
}

// joinRuns merges consecutive data steps of the same direction into one chunk.
func joinRuns(s []step) []step {
	var out []step
	for _, st := range s {
		if n := len(out); n > 0 && !st.eof && !out[n-1].eof && out[n-1].dir == st.dir {
			out[n-1].b = append(bytes.Clone(out[n-1].b), st.b...)
			continue
		}
		out = append(out, st)
	}
	return out
}

func splitEvery(s []step, n int) []step {
	var out []step
	for _, st := range s {
		if st.eof {
			out = append(out, st)
			continue
		}
		for i := 0; i < len(st.b); i += n {
			out = append(out, step{dir: st.dir, b: st.b[i:min(i+n, len(st.b))]})
		}
	}
	return out
}

// splitJoinedAt joins runs of one direction, then cuts the chunk holding the byte at
// position pos (counting all data bytes in order) in two right before it.
func splitJoinedAt(s []step, pos int) []step {
	var out []step
	for _, st := range joinRuns(s) {
		if !st.eof && pos > 0 && pos < len(st.b) {
			out = append(out, step{dir: st.dir, b: st.b[:pos]}, step{dir: st.dir, b: st.b[pos:]})
		} else {
			out = append(out, st)
		}
		pos -= len(st.b)
	}
	return out
}

func splitHalves(s []step) []step {
	var out []step
	for _, st := range s {
		if st.eof || len(st.b) < 2 {
			out = append(out, st)
			continue
		}
		h := len(st.b) / 2
		out = append(out, step{dir: st.dir, b: st.b[:h]}, step{dir: st.dir, b: st.b[h:]})
	}
	return out
}

// run feeds steps to a fresh tracker configured like opts and returns the rendered frames.
// It also checks the invariants every call must keep: End within the chunk and never going
// back, and bounded memory between calls.
func run(t testing.TB, opts Tracker, steps []step) string { return runFed(t, opts, steps, false) }

// runFed is run; with turns, server bytes go through ServerTurn one reply at a time, and each
// cut that leaves bytes over must fall right where a reply completes.
func runFed(t testing.TB, opts Tracker, steps []step, turns bool) string {
	tr := &Tracker{MaxLine: opts.MaxLine, BodyData: opts.BodyData, scan: opts.scan}
	var r renderer
	var seq counts
	take := func(fs []Frame, size int) (replyEnd int) {
		last := 0
		replyEnd = -1
		for _, f := range fs {
			if f.End < last || f.End > size {
				t.Fatalf("frame %v: End %d outside [%d, %d]", f.Kind, f.End, last, size)
			}
			last = f.End
			r.add(f)
			if seq.add(t, f) {
				replyEnd = f.End
			}
		}
		return replyEnd
	}
	for _, st := range steps {
		switch {
		case st.eof:
			take(tr.EOF(st.dir), len(st.b))
		case st.dir == FromClient:
			take(tr.Client(st.b), len(st.b))
		case !turns || len(st.b) == 0:
			take(tr.Server(st.b), len(st.b))
		default:
			for p := st.b; len(p) > 0; {
				turn := tr.Replied() + 1
				fs, n := tr.ServerTurn(p, turn)
				end := take(fs, n)
				if n < len(p) && (tr.Replied() != turn || end != n) {
					t.Fatalf("ServerTurn(%q, %d) stopped at %d with Replied %d, last reply ending at %d", p, turn, n, tr.Replied(), end)
				}
				p = p[n:]
			}
		}
		if got := tr.Replied(); got != seq.replied {
			t.Fatalf("Replied() = %d after %d complete replies", got, seq.replied)
		}
		if fp := tr.footprint(); fp > maxFootprint(tr) {
			t.Fatalf("tracker holds %d bytes, more than %d", fp, maxFootprint(tr))
		}
	}
	return r.String()
}

// counts follows from the frames alone how many commands were framed and how many replies
// completed, for checking Frame.Seq and Tracker.Replied.
type counts struct{ commands, replied int }

// add counts f and reports whether it completes a reply.
func (c *counts) add(t testing.TB, f Frame) bool {
	switch {
	case f.Kind == FrameCommand:
		c.commands++
		if f.Seq != c.commands {
			t.Fatalf("command %q has Seq %d, want %d", f.Cmd.String(), f.Seq, c.commands)
		}
	case f.Kind == FrameGreeting, f.Kind == FrameTLS, f.Kind == FrameBodyEnd, f.Kind == FrameReply && !f.Multi:
		c.replied++
		return true
	}
	return false
}

// maxFootprint is the memory bound a tracker must keep between calls: two line buffers of
// the cap per direction, the full queue, the held lines and what the conformance checks keep.
func maxFootprint(tr *Tracker) int {
	lim := tr.limit() + 1
	buf := 2 * max(2*lim, 2*shrinkAbove)
	return 2*buf + MaxPending*96*2 + MaxHeld*lim*2 + maxSized*4 + maxUIDs*uidMapCost
}

func TestTranscripts(t *testing.T) {
	for _, tr := range loadTranscripts(t) {
		t.Run(filepath.Base(tr.name), func(t *testing.T) {
			total := 0
			for _, s := range tr.steps {
				total += len(s.b)
			}
			want := ""
			for i, c := range chunkings(total) {
				got := run(t, tr.opts, c.cut(tr.steps))
				if i == 0 {
					want = got
					if *update {
						writeGolden(t, tr, got)
						continue
					}
					if golden := string(section(tr.archive, "frames")); golden != got {
						t.Fatalf("frames differ from golden (run with -update to accept):\n--- got\n%s--- want\n%s", got, golden)
					}
					continue
				}
				if got != want {
					t.Fatalf("chunking %s gives other frames:\n--- got\n%s--- want (joined)\n%s", c.name, got, want)
				}
			}
			if got := runFed(t, tr.opts, joinRuns(tr.steps), true); got != want {
				t.Fatalf("ServerTurn a reply at a time gives other frames:\n--- got\n%s--- want (joined)\n%s", got, want)
			}
		})
	}
}

func writeGolden(t *testing.T, tr transcript, frames string) {
	t.Helper()
	a := tr.archive
	found := false
	for i := range a.Files {
		if a.Files[i].Name == "frames" {
			a.Files[i].Data = []byte(frames)
			found = true
		}
	}
	if !found {
		a.Files = append(a.Files, txtar.File{Name: "frames", Data: []byte(frames)})
	}
	if err := os.WriteFile(tr.name, txtar.Format(a), 0o644); err != nil {
		t.Fatal(err)
	}
}

// renderer renders frames one line each, merging consecutive FrameBodyData (their cut
// depends on chunking) and leaving out End (it depends on chunking by definition).
type renderer struct {
	out  strings.Builder
	data []byte
	dcmd string
	open bool
}

func (r *renderer) add(f Frame) {
	if f.Kind == FrameBodyData {
		r.data = append(r.data, f.Data...)
		r.dcmd, r.open = f.Cmd.String(), true
		return
	}
	r.flush()
	r.out.WriteString(renderFrame(f))
	r.out.WriteByte('\n')
}

func (r *renderer) flush() {
	if r.open {
		fmt.Fprintf(&r.out, "S body-data cmd=%q data=%s\n", r.dcmd, abbrev(r.data))
		r.data, r.open = nil, false
	}
}

func (r *renderer) String() string {
	r.flush()
	return r.out.String()
}

// renderFrame renders every field of f but End and Data; Keyword only when Cmd does not show it.
func renderFrame(f Frame) string {
	var b strings.Builder
	b.WriteString(strings.ToUpper(f.Dir.String()[:1]))
	b.WriteString(" " + f.Kind.String())
	if f.Rule != 0 {
		b.WriteString(" rule=" + f.Rule.String())
	}
	if f.Line != nil || f.Full > 0 {
		b.WriteString(" line=" + abbrev(f.Line))
	}
	if f.Truncated {
		fmt.Fprintf(&b, " truncated full=%d", f.Full)
	} else if f.Full != len(f.Line) {
		fmt.Fprintf(&b, " BAD-full=%d", f.Full)
	}
	if f.Cmd != (Command{}) {
		fmt.Fprintf(&b, " cmd=%q", f.Cmd.String())
	}
	if f.Kind == FrameCommand && f.Keyword != f.Cmd.Verb {
		fmt.Fprintf(&b, " keyword=%q", f.Keyword)
	}
	if f.Reply.Status != 0 {
		fmt.Fprintf(&b, " status=%s", f.Reply.Status)
		if f.Reply.Code != "" {
			fmt.Fprintf(&b, " code=%q", f.Reply.Code)
		}
		if f.Reply.Text != "" {
			fmt.Fprintf(&b, " text=%s", abbrev([]byte(f.Reply.Text)))
		}
		if f.Reply.Timestamp != "" {
			fmt.Fprintf(&b, " ts=%q", f.Reply.Timestamp)
		}
	}
	if f.Multi {
		b.WriteString(" multi")
	}
	if f.Kind == FrameBodyEnd || f.Lines != 0 || f.Octets != 0 {
		fmt.Fprintf(&b, " lines=%d octets=%d", f.Lines, f.Octets)
	}
	if a := f.Auth; a != nil {
		secrets := make([]string, len(a.Secrets))
		for i, s := range a.Secrets {
			secrets[i] = abbrev(s)
		}
		fmt.Fprintf(&b, " auth={mech=%q step=%d user=%q safe=%q secrets=[%s]}", a.Mech, a.Step, a.User, a.Safe, strings.Join(secrets, " "))
	}
	if f.Note != "" {
		fmt.Fprintf(&b, " note=%q", f.Note)
	}
	b.WriteString(" state=" + f.State.String()[:1])
	return b.String()
}

// abbrev quotes b, shortening long values to their ends and length.
func abbrev(b []byte) string {
	if len(b) <= 80 {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%q...%q(%d bytes)", b[:32], b[len(b)-16:], len(b))
}
