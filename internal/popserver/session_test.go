package popserver

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestGreetingCarriesAPOPTimestamp(t *testing.T) {
	srv, _ := newTestServer(t)
	srv.Greeting = "hello there."
	srv.Hostname = "pop.test"
	addr := serve(t, srv, false)
	_, g1 := dial(t, addr, false)
	_, g2 := dial(t, addr, false)
	re := regexp.MustCompile(`^\+OK hello there\. <\d+\.\d+\.\d+@pop\.test>$`)
	for _, g := range []string{g1, g2} {
		if !re.MatchString(g) {
			t.Errorf("greeting %q does not match %s", g, re)
		}
	}
	if g1 == g2 {
		t.Error("two sessions got the same timestamp")
	}
}

func TestCapa(t *testing.T) {
	base := []string{"TOP", "UIDL", "USER", "SASL PLAIN LOGIN CRAM-MD5", "RESP-CODES", "PIPELINING",
		"AUTH-RESP-CODE"}
	impl := "IMPLEMENTATION popwire-popserver"
	tests := []struct {
		name     string
		tls      bool
		implicit bool
		login    bool
		want     []string
	}{
		{"plaintext without TLS config", false, false, false, append(slices.Clone(base), impl)},
		{"plaintext offers STLS", true, false, false, append(slices.Clone(base), "STLS", impl)},
		{"implicit TLS", true, true, false, append(slices.Clone(base), impl)},
		{"after login", true, false, true, []string{"TOP", "UIDL", "SASL PLAIN LOGIN CRAM-MD5", "RESP-CODES",
			"PIPELINING", "AUTH-RESP-CODE", impl}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newTestServer(t)
			if tt.tls {
				srv.TLSConfig = serverTLS()
			}
			c, _ := dial(t, serve(t, srv, tt.implicit), tt.implicit)
			if tt.login {
				c.login("demo")
			}
			if r := c.cmd("CAPA"); r != "+OK Capability list follows" {
				t.Fatalf("CAPA: %q", r)
			}
			if got := c.lines(); !slices.Equal(got, tt.want) {
				t.Errorf("CAPA lines %q, want %q", got, tt.want)
			}
			if r := c.cmd("CAPA x"); r != "-ERR Too many arguments." {
				t.Errorf("CAPA x: %q", r)
			}
		})
	}
}

// exchange is one command and the exact reply line(s) it must get.
type exchange struct {
	cmd   string
	reply string
	body  []string // lines of a multi-line body, nil when the reply is single-line
}

// run sends each command in turn and checks its reply.
func (c *client) run(steps []exchange) {
	c.t.Helper()
	for _, s := range steps {
		if r := c.cmd(s.cmd); r != s.reply {
			c.t.Errorf("%s: reply %q, want %q", s.cmd, r, s.reply)
			continue
		}
		if s.body != nil {
			if got := c.lines(); !slices.Equal(got, s.body) {
				c.t.Errorf("%s: body %q, want %q", s.cmd, got, s.body)
			}
		}
	}
}

func TestAuthorizationState(t *testing.T) {
	srv, logs := newTestServer(t)
	c, _ := dial(t, serve(t, srv, false), false)
	c.run([]exchange{
		{cmd: "STAT", reply: "-ERR Not logged in."},
		{cmd: "RETR 1", reply: "-ERR Not logged in."},
		{cmd: "NOOP", reply: "-ERR Not logged in."},
		{cmd: "XYZZY secret", reply: "-ERR Unknown command."},
		{cmd: "UTF8", reply: "-ERR Unknown command."},
		{cmd: " USER demo", reply: "-ERR Unknown command."},
		{cmd: "PASS " + testPassword, reply: "-ERR No username given."},
		{cmd: "USER", reply: "-ERR Missing user name."},
		{cmd: "USER demo", reply: "+OK"},
		{cmd: "PASS wrong", reply: "-ERR [AUTH] Authentication failed."},
		{cmd: "PASS " + testPassword, reply: "-ERR No username given."},
		{cmd: "USER nobody", reply: "+OK"},
		{cmd: "PASS " + testPassword, reply: "-ERR [AUTH] Authentication failed."},
		{cmd: "STLS", reply: "-ERR [SYS/PERM] TLS support isn't enabled."},
		{cmd: "STLS now", reply: "-ERR Too many arguments."},
		{cmd: "user demo", reply: "+OK"},
		{cmd: "pass " + testPassword, reply: "+OK Logged in."},
		{cmd: "USER demo", reply: "-ERR Already logged in."},
		{cmd: "AUTH PLAIN", reply: "-ERR Already logged in."},
		{cmd: "XYZZY", reply: "-ERR Unknown command."},
		{cmd: "LAST", reply: "-ERR Unknown command."},
		{cmd: "QUIT", reply: "+OK Logging out."},
	})
	c.expectEOF()
	if strings.Contains(logs.String(), testPassword) || strings.Contains(logs.String(), "secret") {
		t.Errorf("a secret reached the log:\n%s", logs)
	}
}

func TestQuitInAuthorization(t *testing.T) {
	srv, _ := newTestServer(t)
	c, _ := dial(t, serve(t, srv, false), false)
	c.run([]exchange{{cmd: "QUIT", reply: "+OK Logging out."}})
	c.expectEOF()
}

func TestTransactionCommands(t *testing.T) {
	srv, _ := newTestServer(t)
	msgs := srv.Store.Messages("demo")
	total := 0
	var list, uidl []string
	for i, m := range msgs {
		total += len(m.Data)
		list = append(list, strconv.Itoa(i+1)+" "+strconv.Itoa(len(m.Data)))
		uidl = append(uidl, strconv.Itoa(i+1)+" "+m.UID)
	}
	size1 := strconv.Itoa(len(msgs[0].Data))
	c, _ := dial(t, serve(t, srv, false), false)
	c.login("demo")
	c.run([]exchange{
		{cmd: "STAT", reply: "+OK 12 " + strconv.Itoa(total)},
		{cmd: "STAT 1", reply: "-ERR Too many arguments."},
		{cmd: "LIST", reply: "+OK 12 messages:", body: list},
		{cmd: "LIST 1", reply: "+OK 1 " + size1},
		{cmd: "LIST 0", reply: "-ERR Invalid message number."},
		{cmd: "LIST x", reply: "-ERR Invalid message number."},
		{cmd: "LIST 13", reply: "-ERR no such message, only 12 messages in maildrop"},
		{cmd: "UIDL", reply: "+OK", body: uidl},
		{cmd: "UIDL 5", reply: "+OK 5 05-japanese"},
		{cmd: "UIDL 99", reply: "-ERR no such message, only 12 messages in maildrop"},
		{cmd: "RETR", reply: "-ERR Invalid message number."},
		{cmd: "RETR 13", reply: "-ERR no such message, only 12 messages in maildrop"},
		{cmd: "TOP 1", reply: "-ERR TOP needs a message number and a line count."},
		{cmd: "TOP 1 x", reply: "-ERR Invalid line count."},
		{cmd: "TOP 13 0", reply: "-ERR no such message, only 12 messages in maildrop"},
		{cmd: "TOP 9 0", reply: "+OK", body: []string{
			"From: Bob Builder <bob@example.com>",
			"To: demo@example.net, Carol <carol@example.com>",
			"Subject: Offsite planning",
			"Date: Sun, 08 Mar 2026 18:00:00 +0000",
			"Message-ID: <offsite-1@example.com>",
			"MIME-Version: 1.0",
			"Content-Type: text/plain; charset=us-ascii",
			"",
		}},
		{cmd: "DELE 2", reply: "+OK message 2 deleted"},
		{cmd: "DELE 2", reply: "-ERR message 2 already deleted"},
		{cmd: "RETR 2", reply: "-ERR message 2 already deleted"},
		{cmd: "LIST 2", reply: "-ERR message 2 already deleted"},
		{cmd: "TOP 2 0", reply: "-ERR message 2 already deleted"},
		{cmd: "UIDL 2", reply: "-ERR message 2 already deleted"},
		{cmd: "STAT", reply: "+OK 11 " + strconv.Itoa(total-len(msgs[1].Data))},
		{cmd: "LIST", reply: "+OK 11 messages:", body: slices.Delete(slices.Clone(list), 1, 2)},
		{cmd: "UIDL", reply: "+OK", body: slices.Delete(slices.Clone(uidl), 1, 2)},
		{cmd: "NOOP", reply: "+OK"},
		{cmd: "NOOP 1", reply: "-ERR Too many arguments."},
		{cmd: "RSET", reply: "+OK maildrop has 12 messages (" + strconv.Itoa(total) + " octets)"},
		{cmd: "LIST 2", reply: "+OK 2 " + strconv.Itoa(len(msgs[1].Data))},
	})
	if r := c.cmd("TOP 9 2"); r != "+OK" {
		t.Fatalf("TOP 9 2: %q", r)
	}
	if got, want := string(c.body()), string(top(msgs[8].Data, 2)); got != want {
		t.Errorf("TOP 9 2 = %q, want %q", got, want)
	}
	if !strings.HasSuffix(string(top(msgs[8].Data, 2)), "\r\n\r\nShall we do the offsite in April? Proposals welcome.\r\n\r\n") {
		t.Error("TOP 9 2 does not end with the first two body lines (text, blank)")
	}
	if r := c.cmd("RETR 1"); r != "+OK "+size1+" octets" {
		t.Fatalf("RETR 1: %q", r)
	}
	if got := c.body(); string(got) != string(msgs[0].Data) {
		t.Errorf("RETR 1 = %q, want %q", got, msgs[0].Data)
	}
}

func TestRetrRoundTripsEveryMessage(t *testing.T) {
	srv, _ := newTestServer(t)
	msgs := srv.Store.Messages("demo")
	c, _ := dial(t, serve(t, srv, false), false)
	c.login("demo")
	for i, m := range msgs {
		n := strconv.Itoa(i + 1)
		if r := c.cmd("RETR " + n); r != "+OK "+strconv.Itoa(len(m.Data))+" octets" {
			t.Fatalf("RETR %s: %q", n, r)
		}
		if got := c.body(); string(got) != string(m.Data) {
			t.Errorf("RETR %s (%s) is not byte-exact after unstuffing", n, m.UID)
		}
	}
}

func TestRetrStuffsDotLines(t *testing.T) {
	srv, _ := newTestServer(t)
	c, _ := dial(t, serve(t, srv, false), false)
	c.login("demo")
	if r := c.cmd("RETR 7"); !strings.HasPrefix(r, "+OK ") {
		t.Fatalf("RETR 7: %q", r)
	}
	var raw []string
	for {
		l := c.line()
		if l == "." {
			break
		}
		raw = append(raw, l)
	}
	for _, want := range []string{"..profile was changed", "...double dot line", "....", ".."} {
		if !slices.Contains(raw, want) {
			t.Errorf("stuffed line %q missing from the wire", want)
		}
	}
}

func TestRetrAddsMissingFinalLineEnd(t *testing.T) {
	srv, _ := newTestServer(t)
	if err := srv.Store.Put("bob", Message{UID: "x", Data: []byte("Subject: x\r\n\r\nno newline")}); err != nil {
		t.Fatal(err)
	}
	c, _ := dial(t, serve(t, srv, false), false)
	c.login("bob")
	c.run([]exchange{{cmd: "RETR 1", reply: "+OK 24 octets", body: []string{"Subject: x", "", "no newline"}}})
}

func TestPipelinedBatch(t *testing.T) {
	srv, _ := newTestServer(t)
	msgs := srv.Store.Messages("demo")
	c, _ := dial(t, serve(t, srv, false), false)
	c.send("CAPA", "USER demo", "PASS "+testPassword, "STAT", "RETR 1", "DELE 1", "NOOP", "UIDL 2", "RETR 7",
		"LIST 1", "QUIT", "NOOP")
	if r := c.line(); r != "+OK Capability list follows" {
		t.Fatalf("CAPA: %q", r)
	}
	c.lines()
	for _, want := range []string{"+OK", "+OK Logged in."} {
		if r := c.line(); r != want {
			t.Fatalf("reply %q, want %q", r, want)
		}
	}
	if r := c.line(); !strings.HasPrefix(r, "+OK 12 ") {
		t.Fatalf("STAT: %q", r)
	}
	if r := c.line(); !strings.HasSuffix(r, " octets") {
		t.Fatalf("RETR 1: %q", r)
	}
	if string(c.body()) != string(msgs[0].Data) {
		t.Error("RETR 1 body differs")
	}
	for _, want := range []string{"+OK message 1 deleted", "+OK", "+OK 2 02-alternative"} {
		if r := c.line(); r != want {
			t.Fatalf("reply %q, want %q", r, want)
		}
	}
	c.line()
	if string(c.body()) != string(msgs[6].Data) {
		t.Error("RETR 7 body differs")
	}
	for _, want := range []string{"-ERR message 1 already deleted", "+OK Logging out, messages deleted."} {
		if r := c.line(); r != want {
			t.Fatalf("reply %q, want %q", r, want)
		}
	}
	c.expectEOF()
	if got := len(srv.Store.Messages("demo")); got != 11 {
		t.Errorf("after QUIT the maildrop has %d messages, want 11", got)
	}
}

func TestDeletionsNeedQuit(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, srv *Server, c *client)
		want int
	}{
		{"QUIT commits", func(t *testing.T, _ *Server, c *client) {
			c.run([]exchange{{cmd: "QUIT", reply: "+OK Logging out, messages deleted."}})
			c.expectEOF()
		}, 10},
		{"dropped connection keeps everything", func(t *testing.T, _ *Server, c *client) {
			c.conn.Close()
		}, 12},
		{"RSET then QUIT keeps everything", func(t *testing.T, _ *Server, c *client) {
			c.run([]exchange{{cmd: "RSET", reply: "+OK maildrop has 12 messages (" + strconv.Itoa(sampleSize()) + " octets)"},
				{cmd: "QUIT", reply: "+OK Logging out."}})
			c.expectEOF()
		}, 12},
		{"server Close keeps everything", func(t *testing.T, srv *Server, c *client) {
			srv.Close()
			c.expectEOF()
		}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newTestServer(t)
			addr := serve(t, srv, false)
			c, _ := dial(t, addr, false)
			c.login("demo")
			c.run([]exchange{{cmd: "DELE 1", reply: "+OK message 1 deleted"}, {cmd: "DELE 12", reply: "+OK message 12 deleted"}})
			tt.end(t, srv, c)
			waitUnlocked(t, srv.Store, "demo")
			if got := len(srv.Store.Messages("demo")); got != tt.want {
				t.Errorf("maildrop has %d messages, want %d", got, tt.want)
			}
		})
	}
}

// sampleSize returns the octets of the whole sample mailbox.
func sampleSize() int {
	n := 0
	for _, m := range SampleMailbox() {
		n += len(normalize(m.Data))
	}
	return n
}

// waitUnlocked waits until the session holding user's maildrop has ended.
func waitUnlocked(t *testing.T, st *Store, user string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		l := st.acquire(user)
		if l != nil {
			l.release()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("maildrop of %s still locked", user)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMaildropInUse(t *testing.T) {
	srv, _ := newTestServer(t)
	addr := serve(t, srv, false)
	a, _ := dial(t, addr, false)
	a.login("demo")
	b, _ := dial(t, addr, false)
	b.run([]exchange{
		{cmd: "USER demo", reply: "+OK"},
		{cmd: "PASS " + testPassword, reply: "-ERR [IN-USE] Mailbox is locked by another POP3 session."},
		{cmd: "STAT", reply: "-ERR Not logged in."},
		{cmd: "USER bob", reply: "+OK"},
		{cmd: "PASS " + testPassword, reply: "+OK Logged in."},
		{cmd: "STAT", reply: "+OK 0 0"},
		{cmd: "LIST", reply: "+OK 0 messages:", body: []string{}},
	})
	a.run([]exchange{{cmd: "QUIT", reply: "+OK Logging out."}})
	a.expectEOF()
	c, _ := dial(t, addr, false)
	c.login("demo")
}

func TestIdleTimeout(t *testing.T) {
	srv, logs := newTestServer(t)
	srv.IdleTimeout = 150 * time.Millisecond
	c, _ := dial(t, serve(t, srv, false), false)
	c.login("demo")
	c.run([]exchange{{cmd: "DELE 1", reply: "+OK message 1 deleted"}})
	if r := c.line(); r != "-ERR Disconnected for inactivity." {
		t.Fatalf("idle session got %q", r)
	}
	c.expectEOF()
	waitUnlocked(t, srv.Store, "demo")
	if got := len(srv.Store.Messages("demo")); got != 12 {
		t.Errorf("idle timeout removed messages: %d left", got)
	}
	if !strings.Contains(logs.String(), "disconnected for inactivity") {
		t.Errorf("log lacks the idle disconnect:\n%s", logs)
	}
}

func TestLineTooLong(t *testing.T) {
	srv, _ := newTestServer(t)
	c, _ := dial(t, serve(t, srv, false), false)
	c.send("USER " + strings.Repeat("x", maxLine))
	if r := c.line(); r != "-ERR Input line too long." {
		t.Fatalf("got %q", r)
	}
	c.expectEOF()
}

func TestBareLFCommands(t *testing.T) {
	srv, _ := newTestServer(t)
	c, _ := dial(t, serve(t, srv, false), false)
	c.conn.Write([]byte("USER demo\nPASS " + testPassword + "\nSTAT\n"))
	for _, want := range []string{"+OK", "+OK Logged in."} {
		if r := c.line(); r != want {
			t.Fatalf("got %q, want %q", r, want)
		}
	}
	if r := c.line(); !strings.HasPrefix(r, "+OK 12 ") {
		t.Errorf("STAT: %q", r)
	}
}
