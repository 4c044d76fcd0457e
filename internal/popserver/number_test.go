package popserver

import "testing"

func TestNumber(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		okay bool
	}{
		{"0", 0, true},
		{"17", 17, true},
		{"99999999999999999999999", 1<<31 - 1, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1x", 0, false},
		{" 1", 0, false},
	}
	for _, tt := range tests {
		n, ok := number(tt.in)
		if n != tt.n || ok != tt.okay {
			t.Errorf("number(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.okay)
		}
	}
}
