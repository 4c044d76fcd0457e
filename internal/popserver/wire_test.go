package popserver

import (
	"bytes"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"\n", "\r\n"},
		{"a\rb\n", "a\rb\r\n"},
		{"mixed\r\nbare\nend", "mixed\r\nbare\r\nend"},
	}
	for _, tt := range tests {
		if got := string(normalize([]byte(tt.in))); got != tt.want {
			t.Errorf("normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTop(t *testing.T) {
	msg := "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
	tests := []struct {
		msg  string
		n    int
		want string
	}{
		{msg, 0, "A: 1\r\nB: 2\r\n\r\n"},
		{msg, 2, "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"},
		{msg, 3, msg},
		{msg, 1 << 30, msg},
		{"A: 1\r\n", 0, "A: 1\r\n"},
		{"\r\nbody\r\n", 0, "\r\n"},
		{"\r\nbody\r\n", 1, "\r\nbody\r\n"},
	}
	for _, tt := range tests {
		if got := string(top([]byte(tt.msg), tt.n)); got != tt.want {
			t.Errorf("top(%q, %d) = %q, want %q", tt.msg, tt.n, got, tt.want)
		}
	}
}

// unstuff reverses stuff per RFC 1939 §3 for a body given without its terminator.
func unstuff(wire []byte) []byte {
	var out []byte
	for len(wire) > 0 {
		i := bytes.Index(wire, []byte("\r\n"))
		line := wire[:i+2]
		wire = wire[i+2:]
		out = append(out, bytes.TrimPrefix(line, []byte("."))...)
	}
	return out
}

func TestStuffRoundTripSample(t *testing.T) {
	for _, m := range SampleMailbox() {
		s := newStored(m.UID, m.Data)
		if got := unstuff(s.wire); !bytes.Equal(got, s.data) {
			t.Errorf("%s: unstuffed wire differs from the message", m.UID)
		}
		if bytes.Contains(s.wire, []byte("\r\n.\r\n")) {
			t.Errorf("%s: wire holds a premature terminator", m.UID)
		}
	}
}
