package proxy

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLineReader(t *testing.T) {
	long := strings.Repeat("a", 3000) + "\r\n"
	tests := []struct {
		name  string
		input string
		max   int
		want  []string // each result: the line, "+" when complete, or "EOF" for the error
	}{
		{"lines", "USER a\r\nPASS b\r\n", 64, []string{"USER a\r\n+", "PASS b\r\n+", "EOF"}},
		{"rest then the error on the next call", "USER a\r\nQUI", 64, []string{"USER a\r\n+", "QUI", "EOF"}},
		{"over max in pieces", "abcdefghij\r\n", 4, []string{"abcd", "efgh", "ij\r\n+", "EOF"}},
		{"long line grows the buffer", long + "NOOP\r\n", 64 << 10, []string{long + "+", "NOOP\r\n+", "EOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := newLineReader(iotest.OneByteReader(strings.NewReader(tt.input)), tt.max)
			for i, want := range tt.want {
				line, complete, err := lr.next()
				got := string(line)
				if complete {
					got += "+"
				}
				if errors.Is(err, io.EOF) {
					got += "EOF"
				} else if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("call %d: got %q, want %q", i, got, want)
				}
			}
		})
	}
}

func TestLineReaderShrinksAfterLongLine(t *testing.T) {
	lr := newLineReader(strings.NewReader(strings.Repeat("a", 3000)+"\r\nNOOP\r\n"), maxClientLine)
	for range 2 {
		if _, _, err := lr.next(); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := lr.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("third call: %v, want EOF", err)
	}
	if len(lr.buf) != initClientLine {
		t.Fatalf("buffer %d bytes after the long line was consumed, want %d", len(lr.buf), initClientLine)
	}
}
