package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
)

var update = flag.Bool("update", false, "rewrite the golden event files in testdata/events")

// goldenTime replaces every event time in the golden files.
var goldenTime = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// normalise replaces what differs from run to run in e: time, session id, ports, duration,
// the negotiated cipher suite.
func normalise(e logview.Event) logview.Event {
	e.Time, e.Session = goldenTime, "S"
	e.Client, e.Upstream, e.Local = noPort(e.Client), noPort(e.Upstream), noPort(e.Local)
	if e.TLS != nil {
		tlsInfo := *e.TLS
		tlsInfo.Cipher = "CIPHER"
		e.TLS = &tlsInfo
	}
	if e.Summary != nil {
		sum := *e.Summary
		sum.Duration = "D"
		e.Summary = &sum
	}
	return e
}

// noPort replaces the port of a HOST:PORT address.
func noPort(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return net.JoinHostPort(host, "PORT")
	}
	return addr
}

// goldenSession is one fixed exchange: the upstream's answers, the proxy's configuration, and
// the client's part, which waits for each reply before it goes on so that the events come in
// one order.
type goldenSession struct {
	name    string
	cfg     Config
	replies map[string]string
	client  func(t *testing.T, c *clientConn)
}

// exchange sends each line and reads one reply line for it.
func exchange(t *testing.T, c *clientConn, lines ...string) {
	t.Helper()
	for _, l := range lines {
		c.send(t, l)
		c.line(t)
	}
}

// TestEventsGolden runs fixed sessions through the proxy and compares their events, as the
// JSON log writes them, with testdata/events/NAME.jsonl (go test -update rewrites them), so
// that any change to the event stream shows in a review.
func TestEventsGolden(t *testing.T) {
	good, _ := pkis(t)
	msg := "From: Ann <ann@example.org>\r\nTo: bob@example.org\r\nSubject: hello\r\nMessage-ID: <m1@example.org>\r\n\r\n..dotted\r\nbody\r\n"
	sessions := []goldenSession{
		{name: "mailbox", replies: map[string]string{"USER bob": "+OK\r\n", "PASS s3cr3t-pw": "+OK Logged in.\r\n",
			"LIST": "+OK 1 messages\r\n1 120\r\n.\r\n", "RETR 1": "+OK 120 octets\r\n" + msg + ".\r\n",
			"DELE 1": "+OK deleted\r\n", "QUIT": "+OK bye\r\n"},
			client: func(t *testing.T, c *clientConn) {
				exchange(t, c, "USER bob\r\n", "PASS s3cr3t-pw\r\n")
				for _, cmd := range []string{"LIST\r\n", "RETR 1\r\n"} {
					c.send(t, cmd)
					c.line(t)
					c.readBody(t)
				}
				exchange(t, c, "DELE 1\r\n", "QUIT\r\n")
			}},
		{name: "stls", replies: map[string]string{"CAPA": "+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n", "USER bob": "+OK\r\n",
			"PASS s3cr3t-pw": "+OK Logged in.\r\n", "QUIT": "+OK bye\r\n"},
			client: func(t *testing.T, c *clientConn) {
				c.send(t, "CAPA\r\n")
				c.line(t)
				c.readBody(t)
				exchange(t, c, "STLS\r\n")
				tc := tls.Client(c.Conn, &tls.Config{RootCAs: good.pool, ServerName: "localhost"})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c.Conn, c.r = tc, bufio.NewReader(tc)
				exchange(t, c, "USER bob\r\n", "PASS s3cr3t-pw\r\n", "QUIT\r\n")
			}},
		{name: "deny", cfg: Config{Deny: []string{"DELE"}},
			replies: map[string]string{"USER bob": "+OK\r\n", "PASS s3cr3t-pw": "+OK\r\n", "QUIT": "+OK bye\r\n"},
			client: func(t *testing.T, c *clientConn) {
				exchange(t, c, "USER bob\r\n", "PASS s3cr3t-pw\r\n", "DELE 1\r\n", "QUIT\r\n")
			}},
		{name: "require-tls", cfg: Config{RequireTLS: true}, replies: map[string]string{"QUIT": "+OK bye\r\n"},
			client: func(t *testing.T, c *clientConn) {
				exchange(t, c, "USER bob\r\n", "QUIT\r\n")
			}},
		{name: "listings", replies: map[string]string{
			"CAPA": "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nSASL PLAIN LOGIN\r\n.\r\n",
			"AUTH": "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n", "LANG": "+OK languages\r\nen English\r\n.\r\n",
			"USER bob": "+OK\r\n", "PASS s3cr3t-pw": "+OK Logged in.\r\n", "UIDL": "+OK\r\n1 uid-one\r\n2 uid-two\r\n.\r\n",
			"LIST": "+OK 205 messages\r\n" + longList(205) + ".\r\n", "QUIT": "+OK bye\r\n"},
			client: func(t *testing.T, c *clientConn) {
				for _, cmd := range []string{"CAPA\r\n", "AUTH\r\n", "LANG\r\n"} {
					c.send(t, cmd)
					c.line(t)
					c.readBody(t)
				}
				exchange(t, c, "USER bob\r\n", "PASS s3cr3t-pw\r\n")
				for _, cmd := range []string{"UIDL\r\n", "LIST\r\n"} {
					c.send(t, cmd)
					c.line(t)
					c.readBody(t)
				}
				exchange(t, c, "QUIT\r\n")
			}},
		{name: "anomaly", replies: map[string]string{"NOOP": "+OK\n", "QUIT": "+OK bye\r\n"},
			client: func(t *testing.T, c *clientConn) {
				exchange(t, c, "NOOP\r\n", "QUIT\r\n")
			}},
	}
	for _, gs := range sessions {
		t.Run(gs.name, func(t *testing.T) {
			up := newUpstream(t, false, scriptReplies(gs.replies))
			p := startProxy(t, gs.cfg, up.addr())
			c := p.dial(t, false)
			c.line(t)
			gs.client(t, c)
			c.rest(t)
			p.sink.find(t, "close", func(e logview.Event) bool { return e.Kind == logview.KindClose })
			var got bytes.Buffer
			w := logview.NewJSONWriter(&got)
			for _, e := range p.sink.all() {
				if err := w.Emit(normalise(e)); err != nil {
					t.Fatal(err)
				}
			}
			checkEvents(t, filepath.Join("testdata", "events", gs.name+".jsonl"), got.String())
		})
	}
}

// longList returns n scan listing lines ("1 1001\r\n" on), more than a body event lists.
func longList(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d %d\r\n", i, 1000+i)
	}
	return b.String()
}

// checkEvents compares got with the golden file at path, or rewrites it under -update.
func checkEvents(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	gotLines, wantLines := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		g, w := lineAt(gotLines, i), lineAt(wantLines, i)
		if g != w {
			t.Fatalf("events differ from %s at line %d (go test -update rewrites it)\n got: %s\nwant: %s", path, i+1, g, w)
		}
	}
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(none)"
}
