package pop3wire

import "testing"

func TestStuff(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a\r\n", "a\r\n"},
		{".\r\n", "..\r\n"},
		{"a\r\n.\r\n..b\r\nc.d\r\n", "a\r\n..\r\n...b\r\nc.d\r\n"},
		{".a\r\nb.\r\n..c\r\n", "..a\r\nb.\r\n...c\r\n"},
		{"x\r\n.\r\n", "x\r\n..\r\n"},
		{"no final line end", "no final line end\r\n"},
		{"a\r\n.", "a\r\n..\r\n"},
	}
	for _, tt := range tests {
		if got := string(Stuff([]byte(tt.in))); got != tt.want {
			t.Errorf("Stuff(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStuffSharesUnchangedData(t *testing.T) {
	data := []byte("Subject: x\r\n\r\nbody\r\n")
	if w := Stuff(data); &w[0] != &data[0] {
		t.Error("Stuff copied a message that needs no stuffing")
	}
}

func TestStuffLeavesItsInputAlone(t *testing.T) {
	data := []byte(".a\r\nb")
	Stuff(data)
	if string(data) != ".a\r\nb" {
		t.Errorf("Stuff changed its input to %q", data)
	}
}
