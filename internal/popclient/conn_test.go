package popclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/popclient/popclienttest"
)

func dial(t *testing.T, addr string) *popclient.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := popclient.New(nc)
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var script = map[string]string{
	"CAPA":         "+OK\r\nTOP\r\nUSER\r\nSASL PLAIN\r\n.\r\n",
	"USER alice":   "+OK\r\n",
	"PASS s3cret!": "+OK Logged in.\r\n",
	"LIST":         "+OK 2 messages:\r\n1 120\r\n2 300\r\n.\r\n",
	"LIST 9":       "-ERR no such message\r\n",
	"UIDL":         "-ERR [SYS/TEMP] try later\r\n",
	"RETR 1":       "+OK 20 octets\r\nSubject: x\r\n\r\n..dot\r\nend\r\n.\r\n",
	"TOP 1 0":      "-ERR no such message\r\n",
	"AUTH":         "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n",
	"AUTH PLAIN":   "+ \r\n",
	"AGMRzZWNyZXQ": "-ERR [AUTH] Authentication failed.\r\n",
	"QUIT":         "+OK bye\r\n",
}

// TestReplies checks that every reply ends where the codec says: multi-line lists and bodies,
// -ERR to multi-line commands, SASL continuations.
func TestReplies(t *testing.T) {
	s := popclienttest.Start(t, popclienttest.Config{Greeting: "+OK ready <1.2@x>", Replies: script})
	c := dial(t, s.Addr)
	ctx := testCtx(t)
	g, err := c.Read(ctx)
	if err != nil || g.Timestamp != "<1.2@x>" || !g.OK() {
		t.Fatalf("greeting = %+v, %v", g, err)
	}
	tests := []struct {
		line   string
		status codec.Status
		code   string
		list   []string
		body   string
		kind   popclient.PartKind
	}{
		{line: "CAPA", status: codec.StatusOK, list: []string{"TOP", "USER", "SASL PLAIN"}},
		{line: "AUTH", status: codec.StatusOK, list: []string{"PLAIN", "LOGIN"}},
		{line: "USER alice", status: codec.StatusOK},
		{line: "PASS s3cret!", status: codec.StatusOK},
		{line: "LIST", status: codec.StatusOK, list: []string{"1 120", "2 300"}},
		{line: "LIST 9", status: codec.StatusErr},
		{line: "UIDL", status: codec.StatusErr, code: "SYS/TEMP"},
		{line: "TOP 1 0", status: codec.StatusErr},
		{line: "RETR 1", status: codec.StatusOK, body: "Subject: x\r\n\r\n.dot\r\nend\r\n"},
		{line: "NOOP", status: codec.StatusErr},
	}
	for _, tc := range tests {
		r, err := c.Do(ctx, tc.line)
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		if r.Status != tc.status || r.Code != tc.code {
			t.Errorf("%s: status %v code %q, want %v %q", tc.line, r.Status, r.Code, tc.status, tc.code)
		}
		if strings.Join(r.List, "|") != strings.Join(tc.list, "|") {
			t.Errorf("%s: list %q, want %q", tc.line, r.List, tc.list)
		}
		if string(r.Body) != tc.body {
			t.Errorf("%s: body %q, want %q", tc.line, r.Body, tc.body)
		}
	}
	if c.State() != codec.Transaction {
		t.Errorf("state %v, want TRANSACTION", c.State())
	}
	r, err := c.Do(ctx, "QUIT")
	if err != nil || !r.OK() {
		t.Fatalf("QUIT = %+v, %v", r, err)
	}
	if _, err := c.Do(ctx, "NOOP"); !errors.Is(err, popclient.ErrClosed) {
		t.Errorf("after QUIT: %v, want ErrClosed", err)
	}
}

// TestSendRedacts checks that the display of secret-bearing lines never holds the secret.
func TestSendRedacts(t *testing.T) {
	s := popclienttest.Start(t, popclienttest.Config{Replies: script})
	c := dial(t, s.Addr)
	ctx := testCtx(t)
	if _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ line, want string }{
		{"USER alice", "USER alice"},
		{"PASS s3cret!", "PASS " + codec.Redacted},
		{"AUTH PLAIN", "AUTH PLAIN"},
		{"AGMRzZWNyZXQ", codec.Redacted},
	}
	for _, tc := range tests {
		safe, err := c.Send(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		if safe != tc.want {
			t.Errorf("Send(%q) shows %q, want %q", tc.line, safe, tc.want)
		}
		r, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tc.line == "AUTH PLAIN" && r.Kind != popclient.PartChallenge {
			t.Errorf("AUTH PLAIN: reply kind %v, want a challenge", r.Kind)
		}
	}
	if _, err := c.Send("NOOP\r\nDELE 1"); err == nil {
		t.Error("a line with CRLF inside was sent")
	}
}

// TestStartTLS upgrades after +OK to STLS and refuses bytes injected after it.
func TestStartTLS(t *testing.T) {
	certs := popclienttest.NewCerts(t, false, "pop.test")
	for _, tc := range []struct {
		name   string
		inject string
		err    error
	}{
		{"clean", "", nil},
		{"injected", "+OK\r\nPLAIN\r\n.\r\n", popclient.ErrInjection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := popclienttest.Start(t, popclienttest.Config{TLS: certs.Server, STLS: true, Inject: tc.inject, Replies: script})
			c := dial(t, s.Addr)
			ctx := testCtx(t)
			if _, err := c.Read(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Send("STLS"); err != nil {
				t.Fatal(err)
			}
			r, err := c.Read(ctx)
			if tc.err != nil {
				if _, err2 := c.Do(ctx, "CAPA"); !errors.Is(err, tc.err) && !errors.Is(err2, tc.err) {
					t.Fatalf("STLS with injection: %v / %v, want %v", err, err2, tc.err)
				}
				return
			}
			if err != nil || r.Kind != popclient.PartTLS {
				t.Fatalf("STLS = %+v, %v", r, err)
			}
			if _, err := c.Send("CAPA"); !errors.Is(err, popclient.ErrUpgrade) {
				t.Errorf("command before Upgrade: %v, want ErrUpgrade", err)
			}
			err = c.Upgrade(func(nc net.Conn) (net.Conn, error) {
				tc := tls.Client(nc, &tls.Config{ServerName: "pop.test", RootCAs: certs.Pool})
				return tc, tc.HandshakeContext(ctx)
			})
			if err != nil {
				t.Fatal(err)
			}
			r, err = c.Do(ctx, "CAPA")
			if err != nil || len(r.List) != 3 {
				t.Fatalf("CAPA over TLS = %+v, %v", r, err)
			}
		})
	}
}

// TestCutShort reports a body cut short as ErrClosed, with the codec's note.
func TestCutShort(t *testing.T) {
	s := popclienttest.Start(t, popclienttest.Config{Replies: map[string]string{"RETR 1": "+OK\r\nline\r\n"}})
	nc, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := popclient.New(nc)
	t.Cleanup(func() { c.Close() })
	ctx := testCtx(t)
	if _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send("RETR 1"); err != nil {
		t.Fatal(err)
	}
	// The fake answers, then waits for a line: closing our write side makes it hang up.
	p, err := c.Next(ctx)
	if err != nil || p.Kind != popclient.PartStatus || !p.Multi {
		t.Fatalf("first part = %+v, %v", p, err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	for {
		p, err = c.Next(short)
		if err != nil {
			break
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for the rest of the body: %v, want a deadline", err)
	}
	nc.(*net.TCPConn).CloseWrite()
	var notes []string
	for {
		p, err = c.Next(ctx)
		if err != nil {
			break
		}
		if p.Kind == popclient.PartNote {
			notes = append(notes, p.Line)
		}
	}
	if !errors.Is(err, popclient.ErrClosed) {
		t.Fatalf("end: %v, want ErrClosed", err)
	}
	if !strings.Contains(strings.Join(notes, ";"), "cut short") {
		t.Errorf("notes %q: want the body cut short", notes)
	}
}

// TestUnsolicitedLineDoesNotBlock checks that an extra server line after a reply is reported
// with the next reply instead of refusing the next command.
func TestUnsolicitedLineDoesNotBlock(t *testing.T) {
	s := popclienttest.Start(t, popclienttest.Config{Replies: map[string]string{
		"NOOP": "+OK\r\n-ERR extra line nobody asked for\r\n",
		"STAT": "+OK 1 20\r\n",
	}})
	c := dial(t, s.Addr)
	ctx := testCtx(t)
	if _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Do(ctx, "NOOP"); err != nil || !r.OK() {
		t.Fatalf("NOOP = %+v, %v", r, err)
	}
	r, err := c.Do(ctx, "STAT")
	if err != nil || !r.OK() || r.Text != "1 20" {
		t.Fatalf("STAT after an unsolicited line = %+v, %v", r, err)
	}
	if !strings.Contains(strings.Join(r.Notes, "|"), "extra line") {
		t.Errorf("notes %q do not report the unsolicited line", r.Notes)
	}
}

// TestResetAfterQUIT checks that a server that ends the connection with a reset (it closed
// with the client's next line unread) is reported as ErrClosed, as a close is, whether the
// reset meets the client's write or its read.
func TestResetAfterQUIT(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reset := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("+OK ready\r\n"))
		buf := make([]byte, 64)
		c.Read(buf) // QUIT
		c.Write([]byte("+OK bye\r\n"))
		c.(*net.TCPConn).SetLinger(0) // close with a reset
		c.Close()
		close(reset)
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := popclient.New(raw)
	ctx := testCtx(t)
	if _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Do(ctx, "QUIT"); err != nil || !r.OK() {
		t.Fatalf("QUIT = %+v, %v", r, err)
	}
	<-reset
	time.Sleep(50 * time.Millisecond) // the reset reaches the client's socket
	if _, err := c.Do(ctx, "NOOP"); !errors.Is(err, popclient.ErrClosed) {
		t.Errorf("after a reset: %v, want ErrClosed", err)
	}
}
