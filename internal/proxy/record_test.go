package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
)

// memSink keeps events in memory.
type memSink struct {
	mu     sync.Mutex
	events []logview.Event
}

func (s *memSink) Emit(e logview.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, logview.Detach(e))
	return nil
}

func (s *memSink) json(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, e := range s.events {
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func (s *memSink) kinds(k logview.Kind) []logview.Event {
	var out []logview.Event
	for _, e := range s.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func cmdFrame(line string, st codec.State, auth *codec.Auth) *codec.Frame {
	c, _ := codec.ParseCommand([]byte(line))
	return &codec.Frame{Kind: codec.FrameCommand, Dir: codec.FromClient, Line: []byte(line), Full: len(line),
		Cmd: c, Auth: auth, State: st}
}

func replyFrame(cmd, line string, st codec.State, multi bool) *codec.Frame {
	c, _ := codec.ParseCommand([]byte(cmd))
	r, _ := codec.ParseReply([]byte(line))
	return &codec.Frame{Kind: codec.FrameReply, Dir: codec.FromServer, Line: []byte(line), Full: len(line),
		Cmd: c, Reply: r, Multi: multi, State: st}
}

func TestRecorderRedactsPassAndItsEcho(t *testing.T) {
	const secret = "s3cr3t pass"
	sink := &memSink{}
	r := newRecorder(sink, "s1", LogOptions{})
	r.frame(cmdFrame("USER bob", codec.Authorization, &codec.Auth{Mech: "USER", User: "bob", Safe: "USER bob"}), "client")
	r.frame(replyFrame("USER bob", "+OK", codec.Authorization, false), "upstream")
	r.frame(cmdFrame("PASS "+secret, codec.Authorization, &codec.Auth{Mech: "PASS", Safe: "PASS " + codec.Redacted,
		Secrets: [][]byte{[]byte(secret)}}), "client")
	r.frame(replyFrame("PASS x", "-ERR [AUTH] bad password "+secret, codec.Authorization, false), "upstream")
	r.event(logview.Event{Kind: logview.KindError, Err: "upstream said " + secret})
	r.closeSummary("client closed", 10, 20)

	out := sink.json(t)
	if strings.Contains(out, "s3cr3t") {
		t.Fatalf("secret in log:\n%s", out)
	}
	cmds := sink.kinds(logview.KindCommand)
	if len(cmds) != 2 || !cmds[1].Redacted || cmds[1].Text != "PASS "+codec.Redacted {
		t.Fatalf("PASS event = %+v", cmds)
	}
	if cmds[1].User != "bob" {
		t.Errorf("user = %q, want bob", cmds[1].User)
	}
	replies := sink.kinds(logview.KindReply)
	if got := replies[1].Text; got != "bad password "+codec.Redacted || replies[1].Code != "AUTH" || replies[1].Status != "-ERR" {
		t.Errorf("echo not scrubbed: %q", got)
	}
}

// TestRecorderScrubsPipelinedEcho sends USER and PASS in one go, as a pipelining client does,
// so that the echo of the password comes two server lines after it, and later too.
func TestRecorderScrubsPipelinedEcho(t *testing.T) {
	sink := &memSink{}
	r := newRecorder(sink, "s1", LogOptions{})
	r.frame(cmdFrame("USER bob", codec.Authorization, &codec.Auth{Mech: "USER", User: "bob", Safe: "USER bob"}), "client")
	r.frame(cmdFrame("PASS hunter2", codec.Authorization, &codec.Auth{Mech: "PASS", Safe: "PASS " + codec.Redacted,
		Secrets: [][]byte{[]byte("hunter2")}}), "client")
	r.frame(replyFrame("USER x", "+OK", codec.Authorization, false), "upstream")
	r.frame(replyFrame("PASS x", "-ERR you said hunter2", codec.Authorization, false), "upstream")
	r.frame(cmdFrame("NOOP", codec.Authorization, nil), "client")
	r.frame(replyFrame("NOOP", "-ERR still hunter2", codec.Authorization, false), "upstream")
	r.event(logview.Event{Kind: logview.KindError, Err: "proxy: upstream said hunter2"})
	if out := sink.json(t); strings.Contains(out, "hunter2") {
		t.Fatalf("echoed secret in the log:\n%s", out)
	}
}

// TestRecorderHideUsersInServerText checks that a server line naming the user shows the hash.
func TestRecorderHideUsersInServerText(t *testing.T) {
	sink := &memSink{}
	r := newRecorder(sink, "s1", LogOptions{HideUsers: true, UserKey: []byte("k")})
	r.frame(cmdFrame("USER carol", codec.Authorization, &codec.Auth{Mech: "USER", User: "carol", Safe: "USER carol"}), "client")
	r.frame(replyFrame("USER x", "+OK carol is known here", codec.Authorization, false), "upstream")
	if out := sink.json(t); strings.Contains(out, "carol") {
		t.Fatalf("user name in the log:\n%s", out)
	}
}

func TestRecorderRevealMarksEvents(t *testing.T) {
	sink := &memSink{}
	r := newRecorder(sink, "s1", LogOptions{RevealCredentials: true})
	r.frame(cmdFrame("PASS hunter2", codec.Authorization, &codec.Auth{Mech: "PASS", Safe: "PASS " + codec.Redacted,
		Secrets: [][]byte{[]byte("hunter2")}}), "client")
	e := sink.kinds(logview.KindCommand)[0]
	if !e.Revealed || e.Redacted || e.Text != "PASS hunter2" {
		t.Fatalf("revealed event = %+v", e)
	}
}

func TestRecorderHideUsers(t *testing.T) {
	key := []byte("k")
	render := func() *memSink {
		sink := &memSink{}
		r := newRecorder(sink, "s1", LogOptions{HideUsers: true, UserKey: key})
		r.frame(cmdFrame("USER alice@example.org", codec.Authorization,
			&codec.Auth{Mech: "USER", User: "alice@example.org", Safe: "USER alice@example.org"}), "client")
		r.frame(replyFrame("USER x", "+OK", codec.Authorization, false), "upstream")
		return sink
	}
	a, b := render(), render()
	if out := a.json(t); strings.Contains(out, "alice") {
		t.Fatalf("user name in log:\n%s", out)
	}
	ua, ub := a.events[0].User, b.events[0].User
	if ua == "" || ua != ub || !strings.Contains(a.events[0].Text, ua) {
		t.Fatalf("hashed user not stable or not shown: %q %q %q", ua, ub, a.events[0].Text)
	}
}

// TestRecorderMailboxAudit follows UIDL, RETR, DELE and QUIT, and checks the message audit
// and the close summary, with and without QUIT.
func TestRecorderMailboxAudit(t *testing.T) {
	msg := "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nFrom: a@example.org\r\nMessage-ID: <m1@x>\r\n\r\nhello\r\n"
	session := func(quit bool) *memSink {
		sink := &memSink{}
		r := newRecorder(sink, "s1", LogOptions{})
		r.frame(cmdFrame("UIDL", codec.Transaction, nil), "client")
		r.frame(replyFrame("UIDL", "+OK", codec.Transaction, true), "upstream")
		uidl, _ := codec.ParseCommand([]byte("UIDL"))
		r.frame(&codec.Frame{Kind: codec.FrameListLine, Cmd: uidl, Line: []byte("1 uid-one"), State: codec.Transaction}, "upstream")
		r.frame(&codec.Frame{Kind: codec.FrameBodyEnd, Cmd: uidl, Lines: 1, Octets: 11, State: codec.Transaction}, "upstream")
		r.frame(cmdFrame("RETR 1", codec.Transaction, nil), "client")
		r.frame(replyFrame("RETR 1", "+OK message follows", codec.Transaction, true), "upstream")
		retr, _ := codec.ParseCommand([]byte("RETR 1"))
		half := len(msg) / 2
		r.frame(&codec.Frame{Kind: codec.FrameBodyData, Cmd: retr, Data: []byte(msg[:half]), State: codec.Transaction}, "upstream")
		r.frame(&codec.Frame{Kind: codec.FrameBodyData, Cmd: retr, Data: []byte(msg[half:]), State: codec.Transaction}, "upstream")
		r.frame(&codec.Frame{Kind: codec.FrameBodyEnd, Cmd: retr, Lines: 5, Octets: int64(len(msg)), State: codec.Transaction}, "upstream")
		r.frame(cmdFrame("DELE 1", codec.Transaction, nil), "client")
		r.frame(replyFrame("DELE 1", "+OK marked", codec.Transaction, false), "upstream")
		if quit {
			r.frame(cmdFrame("QUIT", codec.Transaction, nil), "client")
			r.frame(replyFrame("QUIT", "+OK bye", codec.Update, false), "upstream")
		}
		r.closeSummary("done", 1, 2)
		return sink
	}

	sink := session(true)
	bodies := sink.kinds(logview.KindBody)
	m := bodies[1].Message
	sum := sha256.Sum256([]byte(msg))
	if m == nil || m.UID != "uid-one" || m.Subject != "Grüße" || m.SHA256 != hex.EncodeToString(sum[:]) ||
		m.MessageID != "<m1@x>" || m.Msg != 1 {
		t.Fatalf("message audit = %+v", m)
	}
	for i, e := range sink.events {
		if e.Kind == logview.KindDelete && (i == 0 || sink.events[i-1].Answers != "DELE" || sink.events[i-1].Kind != logview.KindReply) {
			t.Errorf("delete event at %d does not follow the +OK to DELE: %+v", i, sink.events[max(i-1, 0)])
		}
	}
	del := sink.kinds(logview.KindDelete)
	if len(del) != 1 || del[0].UID != "uid-one" || del[0].Msg != 1 {
		t.Fatalf("delete events = %+v", del)
	}
	s := sink.kinds(logview.KindClose)[0].Summary
	if !s.Committed || !s.QuitSent || len(s.Deleted) != 1 || s.Deleted[0] != "uid-one" || len(s.Retrieved) != 1 {
		t.Fatalf("summary with QUIT = %+v", s)
	}

	s = session(false).kinds(logview.KindClose)[0].Summary
	if s.Committed || s.QuitSent || len(s.Deleted) != 1 {
		t.Fatalf("summary without QUIT = %+v", s)
	}
}

func TestRecorderQuitInAuthorizationCommitsNothing(t *testing.T) {
	sink := &memSink{}
	r := newRecorder(sink, "s1", LogOptions{})
	r.frame(cmdFrame("QUIT", codec.Authorization, nil), "client")
	r.frame(replyFrame("QUIT", "+OK bye", codec.Authorization, false), "upstream")
	r.closeSummary("done", 0, 0)
	if s := sink.kinds(logview.KindClose)[0].Summary; s.Committed {
		t.Fatalf("QUIT from AUTHORIZATION committed: %+v", s)
	}
}

func TestRecorderCleanEOFIsNoAnomaly(t *testing.T) {
	sink := &memSink{}
	r := newRecorder(sink, "s1", LogOptions{})
	r.frame(&codec.Frame{Kind: codec.FrameEOF, Dir: codec.FromServer, Note: "server closed the connection", Clean: true}, "upstream")
	r.frame(&codec.Frame{Kind: codec.FrameEOF, Dir: codec.FromClient, Note: "client closed without QUIT: no UPDATE"}, "client")
	got := sink.kinds(logview.KindAnomaly)
	if len(got) != 1 || got[0].Text != "client closed without QUIT: no UPDATE" || got[0].Dir != logview.DirClientToServer {
		t.Fatalf("anomalies = %+v, want only the unclean client EOF", got)
	}
}

func TestRecorderLocalReplyDir(t *testing.T) {
	sink := &memSink{}
	r := newRecorder(sink, "s1", LogOptions{})
	r.frame(replyFrame("DELE 1", "-ERR [SYS/PERM] command denied by proxy policy", codec.Transaction, false), logview.LegLocal)
	r.frame(replyFrame("NOOP", "+OK", codec.Transaction, false), "upstream")
	got := sink.kinds(logview.KindReply)
	if got[0].Dir != logview.DirLocal || got[1].Dir != logview.DirServerToClient {
		t.Fatalf("dirs = %q %q, want local then s2c", got[0].Dir, got[1].Dir)
	}
}
