package popclienttest

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Config scripts a Server.
type Config struct {
	// Greeting is the first line sent, without line ending; "" means "+OK popclienttest ready".
	Greeting string
	// Replies maps a command line (exact, without line ending) or, failing that, its verb in
	// upper case to the raw reply, CRLF line endings included. A command with no entry gets
	// "-ERR unknown command". After the reply to QUIT the server closes.
	Replies map[string]string
	// TLS, when set, is the server's TLS configuration: implicit TLS, or STLS when STLS is set.
	TLS *tls.Config
	// STLS makes the server speak plaintext and answer STLS with +OK and a TLS handshake.
	STLS bool
	// Inject is sent right after the +OK to STLS, in the same write (a response injection).
	Inject string
}

// Server is a scripted POP3 server on 127.0.0.1. Each connection runs the script from the
// greeting on; the server stops when the test ends.
type Server struct {
	Addr string // HOST:PORT to dial
	cfg  Config
	ln   net.Listener
	mu   sync.Mutex
	got  []string
	wg   sync.WaitGroup
}

// Start starts a Server for cfg and registers its shutdown with t.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("popclienttest: listen: %v", err)
	}
	s := &Server{Addr: ln.Addr().String(), cfg: cfg, ln: ln}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// Lines returns every line the server received so far, without line endings.
func (s *Server) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go s.serve(c)
	}
}

// serve runs the script on one connection; every connection ends within 10 seconds.
func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if s.cfg.TLS != nil && !s.cfg.STLS {
		tc := tls.Server(c, s.cfg.TLS)
		if tc.Handshake() != nil {
			return
		}
		c = tc
	}
	greeting := s.cfg.Greeting
	if greeting == "" {
		greeting = "+OK popclienttest ready"
	}
	if _, err := c.Write([]byte(greeting + "\r\n")); err != nil {
		return
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.got = append(s.got, line)
		s.mu.Unlock()
		verb, _, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if verb == "STLS" && s.cfg.STLS && s.cfg.TLS != nil {
			if _, err := c.Write([]byte("+OK Begin TLS negotiation\r\n" + s.cfg.Inject)); err != nil {
				return
			}
			tc := tls.Server(c, s.cfg.TLS)
			if tc.Handshake() != nil {
				return
			}
			c, r = tc, bufio.NewReader(tc)
			continue
		}
		reply, ok := s.cfg.Replies[line]
		if !ok {
			reply, ok = s.cfg.Replies[verb]
		}
		if !ok {
			reply = "-ERR unknown command\r\n"
		}
		if _, err := c.Write([]byte(reply)); err != nil || verb == "QUIT" {
			return
		}
	}
}
