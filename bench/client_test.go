package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/popwire/popwire/internal/popserver"
	"github.com/popwire/popwire/internal/testpki"
)

// startPOP serves the mailboxes of box from an in-process popserver over TLS on loopback and
// returns an instance that reaches it directly.
func startPOP(t *testing.T, box mailboxes) *instance {
	t.Helper()
	ca, err := testpki.NewCA("bench test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(upstreamName, upstreamName)
	if err != nil {
		t.Fatal(err)
	}
	st, users, err := box.store()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &popserver.Server{Users: users, Store: st}
	go srv.Serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{leaf}}))
	t.Cleanup(func() { srv.Close() })
	return &instance{addr: l.Addr().String(), tls: &tls.Config{RootCAs: ca.Pool(), ServerName: upstreamName}}
}

func TestRetrPipelined(t *testing.T) {
	box := mailboxes{Big: 200 << 10, Small: 64}
	in := startPOP(t, box)
	sum := wireSum(makeMessage(bigSeed, box.Big))
	p, err := dialPOP(context.Background(), in, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer p.c.Close()
	if err := p.login("big"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		refused, err := p.retrPipelined(1, sum)
		if err != nil {
			t.Fatalf("pipelined fetch %d: %v", i, err)
		}
		if refused {
			t.Fatalf("pipelined fetch %d: the server refused DELE; it accepts it, and RSET undoes it", i)
		}
	}
	if _, err := p.retrPipelined(1, [sha256.Size]byte{}); !errors.Is(err, errMismatch) {
		t.Fatalf("a wrong checksum gave %v, want a byte mismatch", err)
	}
}

func TestStatusRefused(t *testing.T) {
	in := startPOP(t, mailboxes{Big: 64, Small: 64})
	p, err := dialPOP(context.Background(), in, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer p.c.Close()
	if _, err := p.cmd("PASS before-user"); !errors.Is(err, errRefused) {
		t.Fatalf("a -ERR reply gave %v, want errRefused", err)
	}
}
