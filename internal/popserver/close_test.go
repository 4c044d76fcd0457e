package popserver

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// deadline is the read deadline of raw reads in tests.
func deadline() time.Time { return time.Now().Add(testTimeout) }

// waitLog waits until the log holds want.
func waitLog(t *testing.T, logs *logBuffer, want string) {
	t.Helper()
	end := time.Now().Add(testTimeout)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(end) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseStopsEverySession(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, _ := newTestServer(t)
	big := make([]byte, 32<<20) // more than loopback socket buffers hold
	for i := range big {
		big[i] = 'a' + byte(i%26)
		if i%100 == 99 {
			big[i] = '\n'
		}
	}
	if err := srv.Store.Put("bob", Message{UID: "big", Data: big}); err != nil {
		t.Fatal(err)
	}
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl = tlsListener(tl)
	done := make(chan error, 2)
	go func() { done <- srv.Serve(plain) }()
	go func() { done <- srv.Serve(tl) }()

	idle, _ := dial(t, plain.Addr().String(), false)
	loggedIn, _ := dial(t, tl.Addr().String(), true)
	loggedIn.login("demo")
	stuck, _ := dial(t, plain.Addr().String(), false)
	stuck.login("bob")
	stuck.send("RETR 1") // never read: the server blocks writing
	half, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close() // connected, never handshakes

	time.Sleep(50 * time.Millisecond)
	srv.Close()
	for range 2 {
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	}
	idle.expectEOF()
	loggedIn.expectEOF()
	if err := srv.Serve(plain); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
	if srv.Close() != nil {
		t.Error("second Close failed")
	}
	if got := len(srv.Store.Messages("demo")); got != 12 {
		t.Errorf("Close changed the maildrop: %d messages", got)
	}
}

func TestServeReportsAcceptErrors(t *testing.T) {
	srv, _ := newTestServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := srv.Serve(l); err == nil || errors.Is(err, ErrServerClosed) || !strings.HasPrefix(err.Error(), "popserver: accept: ") {
		t.Errorf("Serve on a closed listener = %v", err)
	}
	srv.Close()
}
