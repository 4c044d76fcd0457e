package codec

import (
	"bytes"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// ends returns the kind and End of every frame.
func ends(fs []Frame) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind.String()+"@"+itoa(f.End))
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// feed gives tr each step's bytes, from the client ("C") or the server ("S"), in order.
func feed(tr *Tracker, steps [][2]string) {
	for _, st := range steps {
		if st[0] == "C" {
			tr.Client([]byte(st[1]))
		} else {
			tr.Server([]byte(st[1]))
		}
	}
}

func TestEndOffsets(t *testing.T) {
	tests := []struct {
		name   string
		before [][2]string // direction ("C"/"S") and bytes fed first
		dir    string
		chunk  string
		want   string
	}{
		{"pipelined replies", [][2]string{{"S", "+OK\r\n"}, {"C", "USER a\r\nLIST\r\nQUIT\r\n"}}, "S",
			"+OK\r\n+OK\r\n1 1\r\n.\r\n+OK\r\n", "reply@5 reply@10 list-line@15 body-end@18 reply@23"},
		{"held line resolved by a challenge", [][2]string{{"S", "+OK\r\n"}, {"C", "AUTH PLAIN\r\n"}, {"C", "AGEAYg==\r\n"}}, "S",
			"+ \r\n", "sasl@0 challenge@4"},
		{"held line resolved by a challenge later in the chunk", [][2]string{{"S", "+OK\r\n"}, {"C", "NOOP\r\n"}, {"C", "AUTH PLAIN\r\n"}, {"C", "AGEAYg==\r\n"}}, "S",
			"+OK\r\n+ \r\n", "reply@5 sasl@5 challenge@9"},
		{"STLS reply then injected bytes", [][2]string{{"S", "+OK\r\n"}, {"C", "STLS\r\n"}}, "S",
			"+OK go\r\n+OK\r\n", "tls@8 anomaly@13"},
		{"client STLS then injected command", [][2]string{{"S", "+OK\r\n"}}, "C",
			"STLS\r\nUSER evil\r\n", "command@6 anomaly@17"},
		{"lines held after a held STLS", [][2]string{{"S", "+OK\r\n"}, {"C", "AUTH PLAIN AGEAYg==\r\n"}, {"C", "STLS\r\nNOOP\r\nDELE 1\r\n"}}, "S",
			"+OK\r\n", "reply@5 command@5 anomaly@5"},
		{"held line resolved by a final reply", [][2]string{{"S", "+OK\r\n"}, {"C", "AUTH PLAIN AGEAYg==\r\n"}, {"C", "STAT\r\n"}}, "S",
			"+OK\r\n+OK 1 2\r\n", "reply@5 command@5 reply@14"},
		{"body data pieces", [][2]string{{"S", "+OK\r\n"}, {"C", "RETR 1\r\n"}}, "S",
			"+OK\r\nab\r\n..c\r\n.\r\n", "reply@5 body-data@9 body-data@14 body-end@17"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &Tracker{BodyData: true}
			feed(tr, tt.before)
			var fs []Frame
			if tt.dir == "C" {
				fs = tr.Client([]byte(tt.chunk))
			} else {
				fs = tr.Server([]byte(tt.chunk))
			}
			if got := strings.Join(ends(fs), " "); got != tt.want {
				t.Errorf("frames %s, want %s", got, tt.want)
			}
		})
	}
}

func TestHeldResolutionStartsAtServerLine(t *testing.T) {
	tr := &Tracker{}
	tr.Server([]byte("+OK\r\n"))
	tr.Client([]byte("NOOP\r\n"))
	tr.Client([]byte("AUTH PLAIN\r\n"))
	if fs := tr.Client([]byte("AGEAYg==\r\n")); len(fs) != 1 || fs[0].Kind != FrameHeld {
		t.Fatalf("early answer: %v, want one held frame", ends(fs))
	}
	fs := tr.Server([]byte("+OK\r\n+ \r\n"))
	if got := strings.Join(ends(fs), " "); got != "reply@5 sasl@5 challenge@9" {
		t.Errorf("frames %s, want reply@5 sasl@5 challenge@9", got)
	}
	if fs[1].Auth == nil || fs[1].Auth.Safe != `authcid="a" password=[redacted]` {
		t.Errorf("resolved SASL frame Auth = %+v", fs[1].Auth)
	}
}

// TestLinesStayValid checks that every line handed out by one call stays intact until the
// next call, even when a line spanning chunks and a new partial line share the call.
func TestLinesStayValid(t *testing.T) {
	tr := &Tracker{}
	tr.Server([]byte("+OK\r\n"))
	tr.Client([]byte("US"))
	fs := tr.Client([]byte("ER a\r\nPASS b\r\nNO"))
	if len(fs) != 2 || string(fs[0].Line) != "USER a" || string(fs[1].Line) != "PASS b" {
		t.Fatalf("lines %q", lines(fs))
	}
	fs = tr.Client([]byte("OP\r\nST"))
	if len(fs) != 1 || string(fs[0].Line) != "NOOP" {
		t.Fatalf("lines %q", lines(fs))
	}
	fs = tr.Client([]byte("AT\r\nLI"))
	if len(fs) != 1 || string(fs[0].Line) != "STAT" {
		t.Fatalf("lines %q", lines(fs))
	}
}

func lines(fs []Frame) []string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.Line))
	}
	return out
}

func TestStateAccessors(t *testing.T) {
	tr := &Tracker{}
	if tr.Pending() != 1 || tr.State() != Authorization || tr.body.open {
		t.Fatalf("new tracker: Pending %d State %v body open %v", tr.Pending(), tr.State(), tr.body.open)
	}
	tr.Server([]byte("+OK\r\n"))
	tr.Client([]byte("USER a\r\nPASS b\r\nRETR 1\r\n"))
	if tr.Pending() != 3 {
		t.Errorf("Pending = %d, want 3", tr.Pending())
	}
	tr.Server([]byte("+OK\r\n+OK\r\n+OK\r\nbody"))
	if tr.Pending() != 1 || !tr.body.open || tr.State() != Transaction {
		t.Errorf("in body: Pending %d body open %v State %v", tr.Pending(), tr.body.open, tr.State())
	}
	tr.Server([]byte("\r\n.\r\n"))
	if tr.Pending() != 0 || tr.body.open {
		t.Errorf("after body: Pending %d body open %v", tr.Pending(), tr.body.open)
	}
	tr.Client([]byte("QUIT\r\n"))
	tr.Server([]byte("+OK\r\n"))
	if tr.State() != Update {
		t.Errorf("State = %v, want UPDATE", tr.State())
	}
}

func TestStoppedIsReportedOnce(t *testing.T) {
	tr := &Tracker{}
	fs := tr.Server([]byte("\x16\x03\x01"))
	if len(fs) != 1 || fs[0].Kind != FrameStopped {
		t.Fatalf("frames %v, want one stopped", ends(fs))
	}
	for _, fs := range [][]Frame{tr.Server([]byte("+OK\r\n")), tr.Client([]byte("NOOP\r\n")), tr.EOF(FromServer)} {
		if len(fs) != 0 {
			t.Errorf("after stop: frames %v", ends(fs))
		}
	}
}

func TestPipelineBound(t *testing.T) {
	tr := &Tracker{}
	fs := tr.Client(bytes.Repeat([]byte("NOOP\r\n"), MaxPending+10))
	last := fs[len(fs)-1]
	if last.Kind != FrameStopped || last.Note != notePipeline {
		t.Fatalf("last frame %v %q, want stopped for the pipeline bound", last.Kind, last.Note)
	}
}

// TestIdleFootprint checks that a tracker that has seen long lines and big pipelines gives
// the memory back once they are done, so 10,000 idle sessions stay cheap.
func TestIdleFootprint(t *testing.T) {
	tr := &Tracker{}
	tr.Server([]byte("+OK\r\n"))
	long := append([]byte("AUTH XOAUTH2 "), bytes.Repeat([]byte("QUFB"), 8000)...)
	tr.Client(long[:100])
	tr.Client(append(long[100:], "\r\n"...))
	tr.Server([]byte("-ERR"))
	tr.Server(append(bytes.Repeat([]byte("x"), 50000), "\r\n"...))
	tr.Client(bytes.Repeat([]byte("NOOP\r\n"), 100))
	tr.Server(bytes.Repeat([]byte("+OK\r\n"), 100))
	tr.Client([]byte("NOOP\r\n"))
	tr.Server([]byte("+OK\r\n"))
	if fp := tr.footprint(); fp > 16<<10 {
		t.Errorf("idle tracker holds %d bytes, want at most 16 KiB", fp)
	}
	if n := cap(tr.frames); n > maxFramesKept {
		t.Errorf("idle tracker keeps room for %d frames, want at most %d", n, maxFramesKept)
	}
}

func TestNOOPExchangeAllocs(t *testing.T) {
	tr := &Tracker{}
	tr.Server([]byte("+OK ready\r\n"))
	cmd, rep := []byte("NOOP\r\n"), []byte("+OK\r\n")
	allocs := testing.AllocsPerRun(1000, func() {
		if len(tr.Client(cmd)) != 1 || len(tr.Server(rep)) != 1 {
			t.Fatal("NOOP exchange lost a frame")
		}
	})
	if allocs != 0 {
		t.Errorf("NOOP/+OK exchange: %v allocations, want 0", allocs)
	}
}

func TestBodyChunkAllocs(t *testing.T) {
	for _, bodyData := range []bool{false, true} {
		tr := &Tracker{BodyData: bodyData}
		tr.Server([]byte("+OK\r\n"))
		tr.Client([]byte("RETR 1\r\n"))
		tr.Server([]byte("+OK\r\n"))
		chunk := bytes.Repeat([]byte("a line of a message body, long enough to look like real mail.\r\n..x\r\n"), 400)
		allocs := testing.AllocsPerRun(200, func() { tr.Server(chunk) })
		if allocs != 0 || !tr.body.open {
			t.Errorf("BodyData %v: %v allocations per chunk (body open %v), want 0", bodyData, allocs, tr.body.open)
		}
	}
}

// TestIdleSessionsMemory measures the heap that 10,000 trackers keep once their sessions have
// gone idle after a typical exchange (greeting, CAPA, login, LIST, a RETR in 4 KiB chunks with
// lines split across chunks).
func TestIdleSessionsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 10,000 trackers")
	}
	body := benchBody(64 << 10)
	session := func(tr *Tracker) {
		tr.Server([]byte("+OK Dovecot ready.\r\n"))
		tr.Client([]byte("CAPA\r\n"))
		tr.Server([]byte("+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n"))
		tr.Client([]byte("USER tim\r\n"))
		tr.Server([]byte("+OK\r\n"))
		tr.Client([]byte("PASS Tr0ub4dor&3\r\n"))
		tr.Server([]byte("+OK Logged in.\r\n"))
		tr.Client([]byte("LIST\r\n"))
		tr.Server([]byte("+OK 2 messages:\r\n1 65536\r\n2 100\r\n.\r\n"))
		tr.Client([]byte("RETR 1\r\n"))
		tr.Server([]byte("+OK 65536 octets\r\n"))
		for p := body; len(p) > 0; p = p[min(len(p), 4000):] {
			tr.Server(p[:min(len(p), 4000)])
		}
		tr.Server([]byte(".\r\n"))
	}
	const n = 10000
	trackers := make([]*Tracker, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range trackers {
		trackers[i] = &Tracker{BodyData: i%2 == 0}
		session(trackers[i])
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d idle trackers: %d bytes each", n, per)
	if per > 4<<10 {
		t.Errorf("an idle tracker keeps %d bytes, want at most 4 KiB", per)
	}
	runtime.KeepAlive(trackers)
}

// TestEOFClean checks that only an end of stream with nothing unfinished is Clean.
func TestEOFClean(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server string
		client string
		dir    Direction
		clean  bool
	}{
		{"server after QUIT", "+OK hi\r\n+OK bye\r\n", "QUIT\r\n", FromServer, true},
		{"server with a command pending", "+OK hi\r\n", "NOOP\r\n", FromServer, false},
		{"server inside a body", "+OK hi\r\n+OK\r\nline\r\n", "CAPA\r\n", FromServer, false},
		{"client in AUTHORIZATION", "+OK hi\r\n", "", FromClient, true},
		{"client without QUIT in TRANSACTION", "+OK hi\r\n+OK\r\n+OK in\r\n", "USER a\r\nPASS b\r\n", FromClient, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr Tracker
			tr.Server([]byte(tc.server[:strings.Index(tc.server, "\n")+1]))
			tr.Client([]byte(tc.client))
			tr.Server([]byte(tc.server[strings.Index(tc.server, "\n")+1:]))
			frames := tr.EOF(tc.dir)
			if len(frames) != 1 || frames[0].Kind != FrameEOF {
				t.Fatalf("EOF frames = %v", frames)
			}
			if frames[0].Clean != tc.clean {
				t.Errorf("Clean = %v (note %q), want %v", frames[0].Clean, frames[0].Note, tc.clean)
			}
		})
	}
}

func TestServerMidLine(t *testing.T) {
	tests := []struct {
		name   string
		feed   [][2]string // direction ("C"/"S") and bytes, in order
		midway bool
	}{
		{"fresh", nil, false},
		{"half a greeting", [][2]string{{"S", "+OK rea"}}, true},
		{"greeting done", [][2]string{{"S", "+OK ready\r\n"}}, false},
		{"unsolicited line cut before its LF", [][2]string{{"S", "+OK\r\n"}, {"S", "-ERR autologout\r"}}, true},
		{"list line cut", [][2]string{{"S", "+OK\r\n"}, {"C", "LIST\r\n"}, {"S", "+OK\r\n1 12"}}, true},
		{"list line done", [][2]string{{"S", "+OK\r\n"}, {"C", "LIST\r\n"}, {"S", "+OK\r\n1 12\r\n"}}, false},
		{"body line cut", [][2]string{{"S", "+OK\r\n"}, {"C", "RETR 1\r\n"}, {"S", "+OK\r\nSubject: x"}}, true},
		{"body line done", [][2]string{{"S", "+OK\r\n"}, {"C", "RETR 1\r\n"}, {"S", "+OK\r\nSubject: x\r\n"}}, false},
		{"body dot line cut", [][2]string{{"S", "+OK\r\n"}, {"C", "RETR 1\r\n"}, {"S", "+OK\r\na\r\n."}}, true},
		{"body ended", [][2]string{{"S", "+OK\r\n"}, {"C", "RETR 1\r\n"}, {"S", "+OK\r\na\r\n.\r\n"}}, false},
		{"framing stopped mid-line", [][2]string{{"S", "+OK\r\n"}, {"S", "\x01junk"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, bodyData := range []bool{false, true} {
				tr := &Tracker{BodyData: bodyData}
				feed(tr, tt.feed)
				if got := tr.ServerMidLine(); got != tt.midway {
					t.Errorf("BodyData %v: ServerMidLine = %v, want %v", bodyData, got, tt.midway)
				}
			}
		})
	}
}

func TestPartialLine(t *testing.T) {
	tests := []struct {
		name    string
		before  [][2]string // direction ("C"/"S") and bytes fed first
		partial string      // client bytes without a line end
		keyword string
		why     string
		sasl    bool
	}{
		{"command", nil, "NOOP xx", "NOOP", "", false},
		{"keyword still growing", nil, "DEL", "DEL", "", false},
		{"leading blank", nil, " DELE 1", "", whyBlank, false},
		{"CR that may end the line", nil, "NOOP x\r", "NOOP", "", false},
		{"bare CR", nil, "NOOP x\rD", "", whyBadByte, false},
		{"NUL", nil, "NOOP \x00", "", whyBadByte, false},
		{"bad keyword", nil, "DE-LE 1", "", whyKeyword, false},
		{"held line is judged as a command", [][2]string{{"C", "AUTH PLAIN\r\n"}}, "AGJv+", "", whyKeyword, false},
		{"SASL answer", [][2]string{{"C", "AUTH PLAIN\r\n"}, {"S", "+ \r\n"}}, "AGJv+", "", "", true},
		{"no line in progress", nil, "NOOP\r\n", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &Tracker{}
			tr.Server([]byte("+OK\r\n"))
			feed(tr, tt.before)
			tr.Client([]byte(tt.partial))
			kw, why, sasl := tr.PartialLine()
			if kw != tt.keyword || why != tt.why || sasl != tt.sasl {
				t.Fatalf("PartialLine() = %q, %q, %v; want %q, %q, %v", kw, why, sasl, tt.keyword, tt.why, tt.sasl)
			}
		})
	}
}

func TestSTLSState(t *testing.T) {
	tests := []struct {
		name string
		feed [][2]string // direction ("C"/"S") and bytes, in order
		want STLSState
	}{
		{"fresh", nil, STLSNone},
		{"STLS sent", [][2]string{{"C", "STLS\r\n"}}, STLSSent},
		{"client bytes after STLS", [][2]string{{"C", "STLS\r\n"}, {"C", "USER a\r\n"}, {"C", "PASS b\r\n"}}, STLSSent},
		{"refused", [][2]string{{"C", "STLS\r\n"}, {"S", "-ERR no\r\n"}}, STLSNone},
		{"accepted", [][2]string{{"C", "STLS\r\n"}, {"S", "+OK go\r\n"}}, STLSStarted},
		{"server bytes after +OK", [][2]string{{"C", "STLS\r\n"}, {"S", "+OK go\r\n"}, {"S", "+OK x\r\n"}}, STLSStarted},
		{"the client spoke after +OK", [][2]string{{"C", "STLS\r\n"}, {"S", "+OK go\r\n"}, {"C", "CAPA\r\n"}}, STLSNone},
		{"STLS held behind AUTH", [][2]string{{"C", "AUTH PLAIN AGEAYg==\r\n"}, {"C", "STLS\r\n"}}, STLSNone},
		{"held STLS classified", [][2]string{{"C", "AUTH PLAIN AGEAYg==\r\n"}, {"C", "STLS\r\n"}, {"S", "-ERR no\r\n"}}, STLSSent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &Tracker{}
			tr.Server([]byte("+OK\r\n"))
			feed(tr, tt.feed)
			if got := tr.STLS(); got != tt.want {
				t.Errorf("STLS() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReplySequence(t *testing.T) {
	tr := &Tracker{}
	seqs := func(fs []Frame) []int {
		var out []int
		for _, f := range fs {
			if f.Kind == FrameCommand {
				out = append(out, f.Seq)
			}
		}
		return out
	}
	steps := []struct {
		dir     string
		b       string
		seqs    []int // Seq of the FrameCommands the step returns
		replied int   // Replied() after the step
	}{
		{"C", "CAPA\r\n", []int{1}, 0}, // pipelined before the greeting (Seq 0)
		{"S", "+OK ready\r\n", nil, 1},
		{"S", "+OK\r\nUSER\r\n", nil, 1},
		{"S", ".\r\n", nil, 2},
		{"C", "USER a\r\nPASS b\r\nRETR 1\r\nNOOP\r\n", []int{2, 3, 4, 5}, 2},
		{"S", "-ERR no such user\r\n-ERR\r\n+OK\r\nbody\r\n", nil, 4},
		{"S", ".\r\n+OK\r\n", nil, 6},
		{"C", "AUTH PLAIN AGEAYg==\r\n", []int{6}, 6},
		{"C", "STAT\r\nLIST 1\r\n", nil, 6}, // held
		{"S", "+OK\r\n", []int{7, 8}, 7},
		{"S", "+OK 1 2\r\n+OK 1 2\r\n", nil, 9},
		{"C", "STLS\r\n", []int{9}, 9},
		{"S", "+OK go\r\n", nil, 10},
		{"C", "NOOP\r\n", []int{10}, 10},
		{"S", "+OK\r\n", nil, 11},
	}
	for i, st := range steps {
		var fs []Frame
		if st.dir == "C" {
			fs = tr.Client([]byte(st.b))
		} else {
			fs = tr.Server([]byte(st.b))
		}
		if got := seqs(fs); !slices.Equal(got, st.seqs) {
			t.Errorf("step %d (%q): command Seq %v, want %v", i, st.b, got, st.seqs)
		}
		if got := tr.Replied(); got != st.replied {
			t.Errorf("step %d (%q): Replied() = %d, want %d", i, st.b, got, st.replied)
		}
	}
}
