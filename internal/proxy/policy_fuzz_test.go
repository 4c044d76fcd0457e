package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/popclient"
)

// lenientServer is a fake upstream that parses client lines on its own, as leniently as real
// servers get: a line ends at LF or at a bare CR, NULs are dropped, SP, TAB, VT and FF are
// trimmed, case is ignored, and a keyword that merely begins with a command's runs it (a
// server comparing the first letters). It answers +OK to everything, multi-line where the
// command is, and "+OK", "+ ", "+" or a mix to AUTH with a mechanism, as its mode says; the
// line after a continuation is SASL data, which it never runs. It reports every line it
// would have run as a command in forbidden.
type lenientServer struct {
	forbidden []string
	mode      atomic.Int32  // how AUTH with a mechanism is answered: 0 +OK, 1 "+ ", 2 "+", 3 a mix
	results   chan []string // per connection, once it ends: the lines run that were forbidden
}

const lenientGreeting = "+OK lenient server ready\r\n"

// serve is the script of one upstream connection.
func (l *lenientServer) serve(u *upstreamConn) {
	var ran []string
	defer func() { l.results <- ran }()
	u.write(lenientGreeting)
	sasl := false
	mode := l.mode.Load()
	for {
		raw, err := lenientLine(u.r)
		if len(raw) == 0 && err != nil {
			return
		}
		pick := fnv.New32a()
		pick.Write(raw)
		choice := pick.Sum32() % 3
		line := bytes.ToUpper(bytes.Trim(bytes.ReplaceAll(raw, []byte{0}, nil), blanks))
		kw, arg := line, []byte(nil)
		if i := bytes.IndexAny(line, blanks); i >= 0 {
			kw, arg = line[:i], bytes.Trim(line[i:], blanks)
		}
		if sasl {
			answer := "-ERR\r\n"
			switch {
			case string(line) == "*":
			case choice == 0:
				answer = "+ \r\n"
			case choice == 1:
				answer = "+OK\r\n"
			}
			sasl = answer == "+ \r\n"
			u.write(answer)
			if err != nil {
				return
			}
			continue
		}
		for _, f := range l.forbidden {
			if bytes.HasPrefix(kw, []byte(f)) {
				ran = append(ran, fmt.Sprintf("%s from %q", f, raw))
			}
		}
		switch verb := string(kw); {
		case verb == "":
			u.write("-ERR\r\n")
		case verb == "QUIT":
			u.write("+OK bye\r\n")
			return
		case verb == "AUTH" && len(arg) == 0:
			u.write("+OK\r\nPLAIN\r\n.\r\n")
		case verb == "AUTH":
			m := mode
			if m == 3 {
				m = int32(choice)
			}
			sasl = m != 0
			u.write([]string{"+OK\r\n", "+ \r\n", "+\r\n"}[m])
		case verb == "RETR" || verb == "TOP" || verb == "CAPA" || verb == "XTND",
			(verb == "LIST" || verb == "UIDL" || verb == "LANG") && len(arg) == 0:
			u.write("+OK\r\n.\r\n")
		default:
			u.write("+OK\r\n")
		}
		if err != nil {
			return
		}
	}
}

// blanks are what the lenient server trims and splits words at.
const blanks = " \t\v\f"

// lenientLine reads one line the lenient way: up to LF, CRLF or a bare CR, NULs included; at
// the end of the stream, what is left is a line too.
func lenientLine(r *bufio.Reader) ([]byte, error) {
	var b []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			return b, err
		}
		switch c {
		case '\n':
			return b, nil
		case '\r':
			if next, err := r.Peek(1); err == nil && next[0] == '\n' {
				r.ReadByte()
			}
			return b, nil
		}
		b = append(b, c)
	}
}

// policyEnv is a proxy with a policy in front of a lenient server.
type policyEnv struct {
	srv *lenientServer
	up  *fakeUpstream
	p   *testProxy
}

// policyConfigs are the policies FuzzPolicy tries, chosen by the low bits of its first byte.
var policyConfigs = []Config{
	{Deny: []string{"DELE", "RETR"}},
	{Deny: []string{"DELE"}, RequireTLS: true},
	{Deny: []string{"TOP", "XCLIENT", "USER"}},
	{RequireTLS: true},
}

func newPolicyEnv(t testing.TB, cfg Config) *policyEnv {
	forbidden := append([]string{"STLS"}, cfg.Deny...)
	if cfg.RequireTLS {
		forbidden = append(forbidden, credentials...) // the client leg stays plaintext
	}
	srv := &lenientServer{forbidden: forbidden, results: make(chan []string, 1)}
	up := newUpstream(t, true, srv.serve)
	cfg.UpstreamMode, cfg.InsecureUpstreamPlaintext = popclient.UpstreamPlaintext, true
	cfg.IdleTimeout = 5 * time.Second
	return &policyEnv{srv: srv, up: up, p: startProxy(t, cfg, up.addr())}
}

// FuzzPolicy sends random client bytes through the proxy, with a policy, to a lenient server
// (see lenientServer): no denied command and no credential before TLS under RequireTLS may
// ever reach it in a form it would run, and STLS never does (popwire answers it); and no
// session may stall until the idle timeout (the client half-closes after its bytes). The first
// byte picks the policy (low 2 bits) and how AUTH is answered (next 2 bits); the rest is what
// the client sends. Run it with:
//
//	go test -run=NONE -fuzz=FuzzPolicy -fuzztime=5m ./proxy
func FuzzPolicy(f *testing.F) {
	seeds := []struct {
		cfg, mode byte
		client    string
	}{
		{0, 0, " DELE 1\r\n\tDELE 1\r\n  dele\t1\r\nQUIT\r\n"},
		{1, 0, " USER you\r\n PASS x\r\nQUIT\r\n"},
		{0, 0, "AUTH PLAIN\r\nDELE 2\r\n"},
		{0, 0, "AUTH LOGIN\r\nDELE 3\r\nDELE 4\r\n"},
		{0, 1, "AUTH PLAIN\r\n*\rDELE 1\r\nDELE 2\r\n"},
		{0, 2, "AUTH LOGIN\r\ndGlt\r\nDELE 1\r\nRETR 1\r\n"},
		{0, 0, "NOOP x\rDELE 1\r\nNOOP \x00\r\nDELEX 1\r\nDE\x00LE 1\r\n\vDELE 1\r\nDELE\v1\r\nRETR\f1\r\n"},
		{2, 3, "XCLIENT ADDR=1\r\nUSERX\r\nTOPS 1\r\nAUTH PLAIN\r\nUSER a\r\nUSER b\r\n"},
		{3, 3, "CAPA\r\nAUTH PLAIN\r\nAUTHX\r\nAPOP a b\r\nUSER\r\n"},
		{1, 1, "STLS\r\nDELE 1\r\n"},
		{3, 0, "LIST\r\nUIDL \v\r\nPASS"},
	}
	for _, s := range seeds {
		f.Add(append([]byte{s.cfg | s.mode<<2}, s.client...))
	}
	envs := make([]*policyEnv, len(policyConfigs))
	for i, cfg := range policyConfigs {
		envs[i] = newPolicyEnv(f, cfg)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		env := envs[int(in[0]&3)]
		env.srv.mode.Store(int32(in[0] >> 2 & 3))
		c, err := net.Dial("tcp", env.p.plain)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var wg sync.WaitGroup
		wg.Go(func() {
			c.Write(in[1:])
			c.(*net.TCPConn).CloseWrite()
		})
		got, _ := io.ReadAll(c) // the proxy may reset the connection
		wg.Wait()
		if g := []byte(lenientGreeting); !bytes.HasPrefix(got, g) && !bytes.HasPrefix(g, got) {
			t.Fatalf("the client got %q, not the greeting", got)
		}
		env.up.next(t)
		select {
		case ran := <-env.srv.results:
			if len(ran) > 0 {
				t.Fatalf("the server ran %s", strings.Join(ran, "; "))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the upstream connection did not end")
		}
		for _, e := range env.p.sink.drain(t) {
			if e.Kind == logview.KindError && strings.Contains(e.Err, "idle timeout") {
				t.Fatal("the session stalled until the idle timeout")
			}
		}
	})
}

// drain waits up to 10 s for a session's close event and returns every event so far,
// emptying the sink: a fuzz run holds one session's events at a time.
func (r *recSink) drain(t *testing.T) []logview.Event {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		r.mu.Lock()
		ev := r.ev
		if n := len(ev); n > 0 && ev[n-1].Kind == logview.KindClose {
			r.ev = nil
			r.mu.Unlock()
			return ev
		}
		r.mu.Unlock()
	}
	t.Fatal("no close event")
	return nil
}
