package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/popwire/popwire/internal/popserver"
)

// benchPassword is every benchmark user's password. It is not a secret: the upstream exists
// only for the duration of a run, on loopback.
const benchPassword = "bench-pass"

// Message seeds: the same seed and size give the same message in the harness and the child.
const (
	bigSeed   = 1
	smallSeed = 2
)

// mailboxes describes the upstream's users: "big" holds one message of Big octets; "noop",
// "s0"…"s<Workers-1>" and "idle0"…"idle<Idle-1>" each hold one message of Small octets.
// Every user has its own maildrop because a POP3 maildrop admits one session at a time
// (RFC 1939 §8).
type mailboxes struct {
	Big, Small, Workers, Idle int
}

// args returns the command-line flags that make an upstream child build the same mailboxes.
func (m mailboxes) args() []string {
	return []string{
		"-big", fmt.Sprint(m.Big), "-small", fmt.Sprint(m.Small),
		"-workers", fmt.Sprint(m.Workers), "-idle", fmt.Sprint(m.Idle),
	}
}

// store fills a popserver store and its user table with the mailboxes.
func (m mailboxes) store() (*popserver.Store, map[string]string, error) {
	st := &popserver.Store{}
	users := map[string]string{}
	put := func(user string, data []byte) error {
		users[user] = benchPassword
		return st.Put(user, popserver.Message{UID: "m1", Data: data})
	}
	if err := put("big", makeMessage(bigSeed, m.Big)); err != nil {
		return nil, nil, err
	}
	small := makeMessage(smallSeed, m.Small)
	names := []string{"noop"}
	for i := range m.Workers {
		names = append(names, fmt.Sprintf("s%d", i))
	}
	for i := range m.Idle {
		names = append(names, fmt.Sprintf("idle%d", i))
	}
	for _, u := range names {
		if err := put(u, small); err != nil {
			return nil, nil, err
		}
	}
	return st, users, nil
}

// runUpstreamChild is the body of "bench -upstream-child": it serves the mailboxes over
// implicit TLS on a free loopback port, prints "ADDR\n" on stdout once it accepts, and exits
// when its stdin reaches end of file (the harness closed the pipe or died).
func runUpstreamChild(argv []string) error {
	fs := flag.NewFlagSet("upstream-child", flag.ContinueOnError)
	var m mailboxes
	cert := fs.String("cert", "", "leaf certificate PEM")
	key := fs.String("key", "", "leaf key PEM")
	fs.IntVar(&m.Big, "big", 0, "size of the big message")
	fs.IntVar(&m.Small, "small", 0, "size of the small message")
	fs.IntVar(&m.Workers, "workers", 0, "number of session-workload users")
	fs.IntVar(&m.Idle, "idle", 0, "number of idle-session users")
	if err := fs.Parse(argv); err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		return fmt.Errorf("bench: upstream certificate: %w", err)
	}
	st, users, err := m.store()
	if err != nil {
		return fmt.Errorf("bench: upstream store: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bench: upstream listen: %w", err)
	}
	srv := &popserver.Server{Users: users, Store: st, IdleTimeout: 30 * time.Minute}
	tl := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	go srv.Serve(tl)
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, l.Addr().String())
	if err := w.Flush(); err != nil {
		return fmt.Errorf("bench: upstream: %w", err)
	}
	io.Copy(io.Discard, os.Stdin)
	return srv.Close()
}
