package main

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/popwire/popwire/internal/pop3wire"
)

func TestWireSum(t *testing.T) {
	data := []byte("Subject: x\r\n\r\n.hidden\r\nend\r\n")
	want := sha256.Sum256([]byte("Subject: x\r\n\r\n..hidden\r\nend\r\n.\r\n"))
	if got := wireSum(data); got != want {
		t.Errorf("wireSum = %x, want %x", got, want)
	}
}

// scanAll feeds stream to a fresh scanner in chunks of size n and returns how many bytes it
// consumed and whether it found the end.
func scanAll(stream []byte, n int) (int, bool) {
	s := newEndScanner()
	total := 0
	for len(stream) > 0 {
		k := min(n, len(stream))
		used, done := s.scan(stream[:k])
		total += used
		if done {
			return total, true
		}
		stream = stream[k:]
	}
	return total, false
}

func TestEndScanner(t *testing.T) {
	big := pop3wire.Stuff(makeMessage(9, 20000))
	tests := []struct {
		name     string
		stream   string // what follows the status line's CRLF
		consumed int    // bytes of the reply, -1 when it never ends
	}{
		{"empty reply", ".\r\n", 3},
		{"empty reply then more", ".\r\n+OK next\r\n", 3},
		{"one line", "a\r\n.\r\n", 6},
		{"stuffed dot line", "..\r\n.\r\n", 7},
		{"dot line is not the end", "x\r\n..\r\ny\r\n.\r\nrest", 13},
		{"unterminated", "x\r\n..\r\n", -1},
		{"big message", string(big) + ".\r\n" + "+OK", len(big) + 3},
	}
	for _, tt := range tests {
		for _, n := range []int{1, 2, 3, 4, 5, 7, 64, 1 << 20} {
			got, done := scanAll([]byte(tt.stream), n)
			if tt.consumed < 0 {
				if done {
					t.Errorf("%s, chunks of %d: found an end at %d", tt.name, n, got)
				}
				continue
			}
			if !done || got != tt.consumed {
				t.Errorf("%s, chunks of %d: consumed %d (done %v), want %d", tt.name, n, got, done, tt.consumed)
			}
		}
	}
}

func TestMakeMessage(t *testing.T) {
	a, b := makeMessage(3, 100000), makeMessage(3, 100000)
	if !bytes.Equal(a, b) {
		t.Fatal("makeMessage is not deterministic")
	}
	if bytes.Equal(a, makeMessage(4, 100000)) {
		t.Error("different seeds gave the same message")
	}
	if len(a) < 100000 || len(a) > 100100 {
		t.Errorf("len = %d, want about 100000", len(a))
	}
	if !bytes.HasSuffix(a, []byte("\r\n")) || bytes.Contains(bytes.ReplaceAll(a, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("message is not CRLF-terminated lines")
	}
	if !bytes.Contains(a, []byte("\r\n.\r\n")) || !bytes.Contains(a, []byte("\r\n.")) {
		t.Error("message has no lines that need dot-stuffing")
	}
	if bytes.Contains(pop3wire.Stuff(a), []byte("\r\n.\r\n")) {
		t.Error("stuffed message contains the terminator")
	}
}
