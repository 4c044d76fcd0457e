package proxy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/audit"
	"github.com/popwire/popwire/internal/logview"
)

// hiddenReplies logs in as user with HideUsers and returns the text each server line of lines
// is logged with, and the hash the user is shown as.
func hiddenReplies(t *testing.T, user string, lines []string) (texts []string, hash string) {
	t.Helper()
	sink := &memSink{}
	r := newRecorder(sink, "s1", LogOptions{HideUsers: true, UserKey: []byte("k")})
	r.frame(cmdFrame("USER "+user, codec.Authorization, &codec.Auth{Mech: "USER", User: user, Safe: "USER " + user}), "client")
	r.frame(cmdFrame("PASS s3cr3t", codec.Authorization, &codec.Auth{Mech: "PASS", User: user, Safe: "PASS " + codec.Redacted,
		Secrets: [][]byte{[]byte("s3cr3t")}}), "client")
	for _, l := range lines {
		r.frame(replyFrame("NOOP", "+OK "+l, codec.Transaction, false), "upstream")
	}
	for _, e := range sink.kinds(logview.KindReply) {
		texts = append(texts, e.Text)
	}
	if cmds := sink.kinds(logview.KindCommand); cmds[1].Text != "PASS "+codec.Redacted {
		t.Errorf("PASS is logged as %q", cmds[1].Text)
	}
	return texts, sink.events[0].User
}

// TestHideUsersWholeTokens checks that a user name is hidden where it stands as a whole token
// (an address in angle brackets, in a list, in another case) and nowhere inside other words,
// addresses or the redaction marker.
func TestHideUsersWholeTokens(t *testing.T) {
	tests := []struct {
		user string
		text string
		want string // with H for the user's hash
	}{
		{"a", "maildrop has 2 messages", "maildrop has 2 messages"},
		{"a", "a is locked", "H is locked"},
		{"a", "you said [redacted] and a.", "you said [redacted] and H."},
		{"a", "a@example.org, a.b@example.org, b-a@example.org", "H@example.org, a.b@example.org, b-a@example.org"},
		{"redacted", "PASS [redacted] for redacted", "PASS [redacted] for H"},
		{"bob@example.org", `"Bob" <Bob@Example.ORG>, bob@example.org.`, `"Bob" <H>, H.`},
		{"bob@example.org", "xbob@example.org bob@example.org.uk bob@example.organic bob.x@example.org",
			"xbob@example.org bob@example.org.uk bob@example.organic bob.x@example.org"},
		{"bob@example.org", "to:bob@example.org;cc=BOB@EXAMPLE.ORG", "to:H;cc=H"},
		{`CORP\bob`, `user CORP\bob and "CORP\\bob"`, `user H and "H"`},
		{"jörg", "für jörg, nicht jörgen", "für H, nicht jörgen"},
	}
	for _, tt := range tests {
		texts, hash := hiddenReplies(t, tt.user, []string{tt.text})
		if want := strings.ReplaceAll(tt.want, "H", hash); texts[0] != want {
			t.Errorf("user %q: %q logged as %q, want %q", tt.user, tt.text, texts[0], want)
		}
	}
}

// TestHideUsersInAnyOutput logs in through every authentication path with --hide-users, with
// user names that need escaping in the codec's renderings, and searches every output for them.
func TestHideUsersInAnyOutput(t *testing.T) {
	paths := append(authPaths(),
		authPath{name: "PLAIN with a domain user", steps: func(s string) ([]authStep, []string) {
			ir := b64("admin\x00CORP\\bob\x00" + s)
			return []authStep{{"AUTH PLAIN " + ir, "-ERR [AUTH] no\r\n"}}, nil
		}},
		authPath{name: "SCRAM with an escaped name", steps: func(s string) ([]authStep, []string) {
			return []authStep{{"AUTH SCRAM-SHA-1 " + b64("n,a=admin=2Cx,n=bob=2Cx=3Dy,r=abcdef"), "-ERR [AUTH] no\r\n"}}, nil
		}},
		authPath{name: "DIGEST-MD5 with an authzid", steps: func(s string) ([]authStep, []string) {
			resp := b64(`username="bob",authzid="admin",realm="example.org",nonce="n",cnonce="c",nc=00000001,qop=auth,digest-uri="pop/x",response=` + s)
			return []authStep{{"AUTH DIGEST-MD5", "+ " + b64(`nonce="n"`) + "\r\n"}, {resp, "-ERR [AUTH] no\r\n"}}, nil
		}},
	)
	r := rand.New(rand.NewPCG(1, 2))
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			steps, _ := path.steps(randomSecret(r))
			events := runAuthSession(t, path.greeting, steps, path.unframed, LogOptions{HideUsers: true, UserKey: []byte("k")}, nil)
			for name, out := range allOutputs(t, events) {
				for _, user := range []string{"bob", "admin"} {
					if strings.Contains(strings.ToLower(out), user) {
						t.Errorf("%s output names %q:\n%s", name, user, out)
					}
				}
			}
		})
	}
}

// TestHideUsersInMessageAudit logs in with an address and retrieves a message that names it
// in From, To, Cc, Subject and its content: no output shows the address.
func TestHideUsersInMessageAudit(t *testing.T) {
	msg := "From: \"Bob\" <BOB@example.org>\r\nTo: Alice <alice@example.net>, bob@Example.org\r\n" +
		"Cc: bob@example.org\r\nSubject: for bob@example.org\r\nMessage-ID: <bob@example.org>\r\n\r\nHi bob@example.org!\r\n"
	up := newUpstream(t, false, scriptReplies(map[string]string{"USER Bob@Example.org": "+OK\r\n",
		"PASS s3cr3t-pw": "+OK bob@example.org logged in\r\n", "RETR 1": "+OK\r\n" + msg + ".\r\n", "QUIT": "+OK bye\r\n"}))
	p := startProxy(t, Config{Log: LogOptions{HideUsers: true, UserKey: []byte("k"), Bodies: BodiesFull}}, up.addr())
	c := p.dial(t, false)
	c.send(t, "USER Bob@Example.org\r\nPASS s3cr3t-pw\r\nRETR 1\r\nQUIT\r\n")
	c.rest(t)
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	events := p.sink.all()
	outputs := allOutputs(t, events)
	for name, out := range outputs {
		if strings.Contains(strings.ToLower(out), "bob@example.org") {
			t.Errorf("%s output holds the user's address:\n%s", name, out)
		}
	}
	var m *logview.MessageInfo
	for _, e := range events {
		if e.Message != nil {
			m = e.Message
		}
	}
	if m == nil || !strings.Contains(m.To, "alice@example.net") || !strings.Contains(m.From, `"Bob" <user-`) ||
		!strings.Contains(m.Content.String(), "Hi user-") {
		t.Errorf("message audit = %+v", m)
	}
	if !strings.Contains(outputs["text"], `from "Bob" <user-`) || !strings.Contains(outputs["view --summary"], `from "Bob" <user-`) {
		t.Errorf("the ✉ lines do not show the hidden sender:\n%s\n%s", outputs["text"], outputs["view --summary"])
	}
}

// TestHideUsersContentWithinBudget checks that the copy of a message's content rewritten to
// hide the user counts against the content budget: when the budget cannot hold it, the
// content is left out rather than held beyond it.
func TestHideUsersContentWithinBudget(t *testing.T) {
	msg := "To: bob\r\n\r\n" + strings.Repeat("dear bob,\r\n", 700)
	for _, tt := range []struct {
		budget  int64
		omitted bool
	}{{64 << 10, false}, {12 << 10, true}} {
		sink := &memSink{}
		r := newRecorder(sink, "s1", LogOptions{Bodies: BodiesFull, HideUsers: true, UserKey: []byte("k"), budget: audit.NewBudget(tt.budget)})
		r.frame(cmdFrame("USER bob", codec.Authorization, &codec.Auth{Mech: "USER", User: "bob", Names: []string{"bob"}, Safe: "USER bob"}), "client")
		r.frame(replyFrame("RETR 1", "+OK", codec.Transaction, true), "upstream")
		retr, _ := codec.ParseCommand([]byte("RETR 1"))
		r.frame(&codec.Frame{Kind: codec.FrameBodyData, Cmd: retr, Data: []byte(msg), State: codec.Transaction}, "upstream")
		r.frame(&codec.Frame{Kind: codec.FrameBodyEnd, Cmd: retr, Lines: 701, Octets: int64(len(msg)), State: codec.Transaction}, "upstream")
		m := sink.kinds(logview.KindBody)[0].Message
		if m.ContentOmitted != tt.omitted || strings.Contains(m.Content.String(), "bob") || (m.Content.Len() == 0) != tt.omitted {
			t.Errorf("budget %d: content of %d bytes, omitted %v; want omitted %v and no user name", tt.budget, m.Content.Len(), m.ContentOmitted, tt.omitted)
		}
	}
}

// TestHideUsersLoginNameOutlivesLaterNames logs in, then sends more user names than a session
// remembers (a client may, with USER after the login): the name it logged in with stays hidden
// in what the server says later.
func TestHideUsersLoginNameOutlivesLaterNames(t *testing.T) {
	replies := map[string]string{"USER bob@example.org": "+OK\r\n", "PASS s3cr3t-pw": "+OK logged in\r\n",
		"NOOP": "+OK bob@example.org is still here\r\n", "QUIT": "+OK bye\r\n"}
	var script strings.Builder
	script.WriteString("USER bob@example.org\r\nPASS s3cr3t-pw\r\n")
	for i := range 40 {
		name := fmt.Sprintf("mallory%d", i)
		replies["USER "+name] = "-ERR no\r\n"
		script.WriteString("USER " + name + "\r\n")
	}
	script.WriteString("NOOP\r\nQUIT\r\n")
	up := newUpstream(t, false, scriptReplies(replies))
	p := startProxy(t, Config{Log: LogOptions{HideUsers: true, UserKey: []byte("k")}}, up.addr())
	c := p.dial(t, false)
	c.send(t, script.String())
	if got := c.rest(t); !strings.Contains(got, "bob@example.org is still here") {
		t.Fatalf("client got %q", got)
	}
	p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
	for name, out := range allOutputs(t, p.sink.all()) {
		if strings.Contains(out, "bob@example.org") {
			t.Errorf("%s output holds the login name:\n%s", name, out)
		}
	}
}
