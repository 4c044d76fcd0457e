package popserver

import (
	"bufio"
	"crypto/tls"
	"strings"
	"testing"
)

// starttls upgrades c after a "+OK" to STLS.
func (c *client) starttls() {
	c.t.Helper()
	if n := c.r.Buffered(); n != 0 {
		c.t.Fatalf("%d bytes followed the STLS reply in plaintext", n)
	}
	tc := tls.Client(c.conn, clientTLS())
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

func TestSTLSUpgrade(t *testing.T) {
	srv, _ := newTestServer(t)
	srv.TLSConfig = serverTLS()
	c, _ := dial(t, serve(t, srv, false), false)
	c.run([]exchange{{cmd: "STLS", reply: "+OK Begin TLS negotiation now."}})
	c.starttls()
	c.run([]exchange{
		{cmd: "STLS", reply: "-ERR TLS is already active."},
		{cmd: "CAPA", reply: "+OK Capability list follows", body: []string{"TOP", "UIDL", "USER",
			"SASL PLAIN LOGIN CRAM-MD5", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "IMPLEMENTATION popwire-popserver"}},
	})
	c.login("demo")
	c.run([]exchange{{cmd: "UIDL 1", reply: "+OK 1 01-welcome"}})
}

func TestSTLSForgetsUserSentBeforeTLS(t *testing.T) {
	srv, _ := newTestServer(t)
	srv.TLSConfig = serverTLS()
	c, _ := dial(t, serve(t, srv, false), false)
	c.run([]exchange{{cmd: "USER demo", reply: "+OK"}, {cmd: "STLS", reply: "+OK Begin TLS negotiation now."}})
	c.starttls()
	c.run([]exchange{{cmd: "PASS " + testPassword, reply: "-ERR No username given."}})
}

func TestSTLSDiscardsInjectedCommands(t *testing.T) {
	srv, logs := newTestServer(t)
	srv.TLSConfig = serverTLS()
	c, _ := dial(t, serve(t, srv, false), false)
	// A man in the middle appends a command to STLS in the same segment (CVE-2011-0411 class).
	c.send("STLS", "USER demo")
	if r := c.line(); r != "+OK Begin TLS negotiation now." {
		t.Fatalf("STLS: %q", r)
	}
	c.starttls()
	// Had the injected USER run, this PASS would log in.
	c.run([]exchange{{cmd: "PASS " + testPassword, reply: "-ERR No username given."}})
	if !strings.Contains(logs.String(), "discarded 11 bytes sent after STLS") {
		t.Errorf("log lacks the discard:\n%s", logs)
	}
}

func TestSTLSAfterLoginRefused(t *testing.T) {
	srv, _ := newTestServer(t)
	srv.TLSConfig = serverTLS()
	c, _ := dial(t, serve(t, srv, false), false)
	c.login("demo")
	c.run([]exchange{{cmd: "STLS", reply: "-ERR Already logged in."}})
}

func TestImplicitTLS(t *testing.T) {
	srv, _ := newTestServer(t)
	srv.TLSConfig = serverTLS()
	c, greeting := dial(t, serve(t, srv, true), true)
	if !strings.HasPrefix(greeting, "+OK popwire-popserver ready. <") {
		t.Fatalf("greeting %q", greeting)
	}
	c.run([]exchange{{cmd: "STLS", reply: "-ERR TLS is already active."}})
	c.login("demo")
	msgs := srv.Store.Messages("demo")
	if r := c.cmd("RETR 3"); !strings.HasSuffix(r, " octets") {
		t.Fatalf("RETR 3: %q", r)
	}
	if string(c.body()) != string(msgs[2].Data) {
		t.Error("RETR 3 over TLS is not byte-exact")
	}
}

func TestFailedHandshakeEndsSession(t *testing.T) {
	srv, logs := newTestServer(t)
	srv.TLSConfig = serverTLS()
	c, _ := dial(t, serve(t, srv, false), false)
	c.run([]exchange{{cmd: "STLS", reply: "+OK Begin TLS negotiation now."}})
	c.send("this is not a ClientHello")
	c.conn.SetReadDeadline(deadline())
	buf := make([]byte, 512)
	for {
		if _, err := c.conn.Read(buf); err != nil {
			break
		}
	}
	waitLog(t, logs, "stls handshake")
}
