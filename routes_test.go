package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/metrics"
	"github.com/popwire/popwire/internal/popserver"
	"github.com/popwire/popwire/internal/proxy"
)

// eventLog collects the events of a routeSet.
type eventLog struct {
	mu sync.Mutex
	ev []logview.Event
}

func (l *eventLog) Emit(e logview.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, logview.Detach(e))
	return nil
}

// of returns the events of kind k so far.
func (l *eventLog) of(k logview.Kind) []logview.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logview.Event
	for _, e := range l.ev {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// fakeUpstream starts a plaintext in-memory POP3 server greeting with name.
func fakeUpstream(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &popserver.Server{Greeting: name + " ready."}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// freeAddr returns a loopback address nothing listens on (just now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// routeYAML is one route of a test file: a plaintext listener on addr to a plaintext upstream.
func routeYAML(name, addr, upstream string) string {
	return fmt.Sprintf("  - name: %s\n    listen: [{address: %q}]\n    upstream: {address: %q, tls: none, insecure_plaintext: true}\n", name, addr, upstream)
}

// writeFile writes text to path.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// popConn is a client connection to a route.
type popConn struct {
	net.Conn
	r *bufio.Reader
}

// dialRoute connects to addr and returns the connection and the greeting.
func dialRoute(addr string) (*popConn, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, "", err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	pc := &popConn{c, bufio.NewReader(c)}
	line, err := pc.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", err
	}
	return pc, line, nil
}

// greeting returns the greeting of a new connection to addr.
func greeting(t *testing.T, addr string) string {
	t.Helper()
	c, line, err := dialRoute(addr)
	if err != nil {
		t.Fatalf("connecting to %s: %v", addr, err)
	}
	c.Close()
	return line
}

// command sends line and returns the reply's first line.
func (c *popConn) command(t *testing.T, line string) string {
	t.Helper()
	if _, err := c.Write([]byte(line + "\r\n")); err != nil {
		t.Fatal(err)
	}
	reply, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return reply
}

// startRoutes serves the file at path with a routeSet, stopped at the end of the test.
func startRoutes(t *testing.T, path string, sink logview.Sink) *routeSet {
	t.Helper()
	return startRoutesCounted(t, path, sink, nil)
}

// startRoutesCounted is startRoutes counting into reg (nil: nothing is counted).
func startRoutesCounted(t *testing.T, path string, sink logview.Sink, reg *metrics.Registry) *routeSet {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	set, err := newRouteSet(cfg, sink, nil, proxy.LogOptions{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- set.ListenAndServe(func() {}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := set.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-errc; !errors.Is(err, proxy.ErrServerClosed) {
			t.Errorf("ListenAndServe: %v", err)
		}
	})
	return set
}

// TestRoutesServeEachUpstream checks that each route of a file takes its listener's clients
// to its own upstream.
func TestRoutesServeEachUpstream(t *testing.T) {
	a, b := fakeUpstream(t, "server A"), fakeUpstream(t, "server B")
	l1, l2 := freeAddr(t), freeAddr(t)
	path := filepath.Join(t.TempDir(), "popwire.yaml")
	writeFile(t, path, "routes:\n"+routeYAML("a", l1, a)+routeYAML("b", l2, b))
	startRoutes(t, path, nil)
	if g := greeting(t, l1); !strings.Contains(g, "server A") {
		t.Errorf("route a greets %q, want server A's", g)
	}
	if g := greeting(t, l2); !strings.Contains(g, "server B") {
		t.Errorf("route b greets %q, want server B's", g)
	}
}

// TestRoutesCountIntoMetrics checks that each route of a file counts its sessions under its
// own name, also after a reload.
func TestRoutesCountIntoMetrics(t *testing.T) {
	a, b := fakeUpstream(t, "server A"), fakeUpstream(t, "server B")
	l1, l2 := freeAddr(t), freeAddr(t)
	path := filepath.Join(t.TempDir(), "popwire.yaml")
	writeFile(t, path, "routes:\n"+routeYAML("a", l1, a)+routeYAML("b", l2, b))
	reg := metrics.New()
	set := startRoutesCounted(t, path, nil, reg)
	greeting(t, l1)
	greeting(t, l2)
	greeting(t, l2)
	set.reload()
	greeting(t, l2)
	want := map[string]string{"a": "1", "b": "3"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		got := map[string]string{}
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if !strings.HasPrefix(line, "popwire_sessions_total{") {
				continue
			}
			fields := strings.Fields(line)
			for name := range want {
				if strings.Contains(fields[0], `route="`+name+`"`) {
					n, _ := strconv.Atoi(got[name])
					v, _ := strconv.Atoi(fields[1])
					got[name] = strconv.Itoa(n + v)
				}
			}
		}
		if maps.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions_total by route: got %v, want %v\n%s", got, want, rec.Body.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRoutesProxyProtocol checks a file's proxy_protocol keys: a listener that believes only
// its trusted networks' headers, and an upstream that is sent a v2 header naming the client.
func TestRoutesProxyProtocol(t *testing.T) {
	// The upstream reads the v2 header popwire sends before it greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	sources := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				h, err := proxyproto.Read(bufio.NewReader(c))
				if err != nil {
					sources <- "error: " + err.Error()
					return
				}
				sources <- h.SourceAddr.String()
				c.Write([]byte("+OK upstream ready.\r\n"))
			}()
		}
	}()
	trusted, untrusted := freeAddr(t), freeAddr(t)
	path := filepath.Join(t.TempDir(), "popwire.yaml")
	writeFile(t, path, fmt.Sprintf(`routes:
  - name: lb
    listen:
      - address: %q
        proxy_protocol: {trusted: [127.0.0.0/8]}
      - address: %q
        proxy_protocol: {trusted: [10.0.0.0/8]}
    upstream: {address: %q, tls: none, insecure_plaintext: true, proxy_protocol: v2}
`, trusted, untrusted, ln.Addr()))
	events := &eventLog{}
	startRoutes(t, path, events)

	c, err := net.DialTimeout("tcp", trusted, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("PROXY TCP4 192.0.2.7 127.0.0.1 40000 110\r\n")); err != nil {
		t.Fatal(err)
	}
	if g, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(g, "upstream ready") {
		t.Fatalf("greeting through the trusted listener: %q, %v", g, err)
	}
	if src := <-sources; src != "192.0.2.7:40000" {
		t.Errorf("the upstream's PROXY header names %s, want the client 192.0.2.7:40000", src)
	}
	opens := events.of(logview.KindOpen)
	if len(opens) != 1 || !strings.HasPrefix(opens[0].Client, "192.0.2.7") || !strings.HasPrefix(opens[0].Via, "127.0.0.1") {
		t.Errorf("open events %+v: want client 192.0.2.7 via 127.0.0.1", opens)
	}

	_, line, err := dialRoute(untrusted)
	if err != nil || !strings.HasPrefix(line, "-ERR [SYS/PERM]") {
		t.Errorf("a peer outside trusted got %q, %v; want -ERR [SYS/PERM]", line, err)
	}
}

// TestReload checks a reload: the session in flight keeps its upstream to the end, new
// sessions use the new one, an added listener answers, a removed one refuses, an unchanged one
// is the same socket; and a bad file, a listener that cannot be opened or a certificate that
// does not load is refused with an error event while the running configuration keeps serving.
func TestReload(t *testing.T) {
	a, b := fakeUpstream(t, "server A"), fakeUpstream(t, "server B")
	l1, l2, l3 := freeAddr(t), freeAddr(t), freeAddr(t)
	path := filepath.Join(t.TempDir(), "popwire.yaml")
	writeFile(t, path, "routes:\n"+routeYAML("one", l1, a)+routeYAML("two", l2, a))
	events := &eventLog{}
	set := startRoutes(t, path, events)

	inflight, g, err := dialRoute(l1)
	if err != nil || !strings.Contains(g, "server A") {
		t.Fatalf("before the reload: %q, %v", g, err)
	}
	defer inflight.Close()
	port := set.ports[l1]

	writeFile(t, path, "routes:\n"+routeYAML("one", l1, b)+routeYAML("three", l3, b))
	set.reload()
	if ev := events.of(logview.KindReload); len(ev) != 1 || !strings.Contains(ev[0].Text, "listening on "+l3) || !strings.Contains(ev[0].Text, "no longer listening on "+l2) {
		t.Fatalf("reload events %+v (errors %+v)", ev, events.of(logview.KindError))
	}
	if reply := inflight.command(t, "NOOP"); !strings.HasPrefix(reply, "-ERR") { // server A: not logged in
		t.Errorf("in-flight NOOP: %q", reply)
	}
	if reply := inflight.command(t, "QUIT"); !strings.HasPrefix(reply, "+OK") {
		t.Errorf("in-flight QUIT: %q", reply)
	}
	if g := greeting(t, l1); !strings.Contains(g, "server B") {
		t.Errorf("new session on the kept listener greets %q, want server B's", g)
	}
	if g := greeting(t, l3); !strings.Contains(g, "server B") {
		t.Errorf("the added listener greets %q, want server B's", g)
	}
	if c, err := net.DialTimeout("tcp", l2, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("the removed listener %s still accepts", l2)
	}
	if set.ports[l1] != port {
		t.Error("the unchanged listener was closed and opened again")
	}
	var ups []string
	for _, e := range events.of(logview.KindOpen) {
		ups = append(ups, e.Upstream)
	}
	if len(ups) < 3 || ups[0] != a || ups[1] != b || ups[2] != b {
		t.Errorf("sessions went to %q; want the in-flight one to %s, the later ones to %s", ups, a, b)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, bad := range []struct{ name, text, want string }{
		{"syntax", "routes: [\n", "popwire.yaml:"},
		{"listener in use", "routes:\n" + routeYAML("one", l1, a) + routeYAML("four", busy.Addr().String(), a), "listen[0]"},
		{"certificate", "tls: {cert: /no/such/cert.pem, key: /no/such/key.pem}\nroutes:\n" + routeYAML("one", l1, a), "popwire.yaml:1: route one: tls.cert"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			before := len(events.of(logview.KindError))
			writeFile(t, path, bad.text)
			set.reload()
			errs := events.of(logview.KindError)
			if len(errs) != before+1 || !strings.Contains(errs[len(errs)-1].Err, "reload refused") || !strings.Contains(errs[len(errs)-1].Err, bad.want) {
				t.Fatalf("error events %+v, want one more saying the reload was refused and %q", errs, bad.want)
			}
			if g := greeting(t, l1); !strings.Contains(g, "server B") {
				t.Errorf("after a refused reload the route greets %q, want server B's", g)
			}
			if g := greeting(t, l3); !strings.Contains(g, "server B") {
				t.Errorf("after a refused reload route three greets %q, want server B's", g)
			}
		})
	}
}

// TestRoutesRemotePlaintextListener checks that allow_remote_plaintext lets a route serve a
// plaintext listener on an address that is not loopback. So that the test opens nothing
// beyond loopback, the socket is a loopback one that reports the wildcard address, put in
// place of the file's address before a reload.
func TestRoutesRemotePlaintextListener(t *testing.T) {
	a := fakeUpstream(t, "server A")
	path := filepath.Join(t.TempDir(), "popwire.yaml")
	writeFile(t, path, "routes:\n"+routeYAML("a", freeAddr(t), a))
	events := &eventLog{}
	set := startRoutes(t, path, events)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	wild := net.JoinHostPort("0.0.0.0", strconv.Itoa(port))
	p := &sharedPort{ln: reportedAddr{ln, &net.TCPAddr{IP: net.IPv4zero, Port: port}}, emit: set.emit, done: make(chan struct{})}
	go p.acceptLoop()
	set.mu.Lock()
	set.ports[wild] = p
	set.mu.Unlock()
	writeFile(t, path, fmt.Sprintf("routes:\n  - name: a\n    listen: [{address: %q, allow_remote_plaintext: true}]\n    upstream: {address: %q, tls: none, insecure_plaintext: true}\n", wild, a))
	set.reload()
	if errs := events.of(logview.KindError); len(errs) > 0 {
		t.Fatalf("reload: %+v", errs)
	}
	c, g, err := dialRoute(ln.Addr().String())
	if err == nil {
		c.Close()
	}
	select {
	case err := <-set.failed:
		t.Fatalf("the route's server failed: %v", err)
	default:
	}
	if err != nil || !strings.Contains(g, "server A") {
		t.Errorf("the plaintext listener on %s greets %q, %v; want server A's", wild, g, err)
	}
}

// reportedAddr is a net.Listener that reports addr as its address.
type reportedAddr struct {
	net.Listener
	addr net.Addr
}

func (l reportedAddr) Addr() net.Addr { return l.addr }

// TestReloadRefusesNoClient checks that reloads, one after another, never refuse a client of a
// listener they keep: its socket stays open and each connection reaches a server.
func TestReloadRefusesNoClient(t *testing.T) {
	a, b := fakeUpstream(t, "server A"), fakeUpstream(t, "server B")
	l1 := freeAddr(t)
	path := filepath.Join(t.TempDir(), "popwire.yaml")
	writeFile(t, path, "routes:\n"+routeYAML("one", l1, a))
	set := startRoutes(t, path, nil)
	stop := make(chan struct{})
	failures := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, g, err := dialRoute(l1)
			if err == nil {
				c.Close()
			}
			if err != nil || !strings.Contains(g, "ready") {
				select {
				case failures <- fmt.Errorf("greeting %q, %v", g, err):
				default:
				}
				return
			}
		}
	})
	for i := range 20 {
		up := a
		if i%2 == 0 {
			up = b
		}
		writeFile(t, path, "routes:\n"+routeYAML("one", l1, up))
		set.reload()
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-failures:
		t.Fatalf("a client was refused during the reloads: %v", err)
	default:
	}
}

// TestConfigCommands checks config example, config check and serve --config at the command
// line: the example passes the check, a bad file fails it with its line, and serve refuses
// other serve flags with --config.
func TestConfigCommands(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"popwire", "config", "example"}, &out, &errb); code != 0 {
		t.Fatalf("config example: exit %d, %s", code, errb.String())
	}
	example := filepath.Join(dir, "example.yaml")
	writeFile(t, example, out.String())
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "routes:\n  - name: a\n    listen: [{address: \"127.0.0.1:2110\"}]\n    upstream: {address: \"h:995\", tls: ssl}\n")
	ppOut := filepath.Join(dir, "pp.yaml")
	writeFile(t, ppOut, "routes:\n  - name: a\n    listen: [{address: \"127.0.0.1:2110\"}]\n    upstream:\n      address: \"h:995\"\n      proxy_protocol: v2\n")
	metricsFile := filepath.Join(dir, "metrics.yaml")
	writeFile(t, metricsFile, "metrics: {listen: \"127.0.0.1:9100\", allow_remote: false, drain_delay: 2s}\nroutes:\n"+routeYAML("a", "127.0.0.1:2110", "h:995"))
	for _, tt := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"config", "check", example}, 0, example + ": ok", ""},
		{[]string{"config", "check", bad}, 1, "", bad + ":4: route a: upstream.tls must be implicit, starttls or none"},
		{[]string{"config", "check", filepath.Join(dir, "none.yaml")}, 1, "", "none.yaml: cannot read it"},
		{[]string{"config", "check", metricsFile}, 0, metricsFile + ": ok", ""},
		{[]string{"config", "check", ppOut}, 0, ppOut + ": ok", ""},
		{[]string{"config", "check"}, 2, "", "config check takes one FILE"},
		{[]string{"config", "example", "x"}, 2, "", "config example takes no arguments"},
		{[]string{"config"}, 2, "", "config needs a subcommand"},
		{[]string{"serve", "--config", bad}, 2, "", bad + ":4:"},
		{[]string{"serve", "--config", example, "--deny", "DELE"}, 2, "", "--deny does not go with --config"},
		{[]string{"serve", "--config", example, "stray"}, 2, "", "serve takes no arguments"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"popwire"}, tt.args...), &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout %q\nstderr %q", code, tt.code, out.String(), errb.String())
			}
		})
	}
	t.Run("POPWIRE_DENY", func(t *testing.T) {
		t.Setenv("POPWIRE_DENY", "DELE")
		var out, errb bytes.Buffer
		if code := run([]string{"popwire", "serve", "--config", example}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "POPWIRE_DENY") {
			t.Fatalf("exit %d, stderr %q; want 2 naming POPWIRE_DENY", code, errb.String())
		}
	})
}
