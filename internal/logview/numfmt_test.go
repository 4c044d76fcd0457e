package logview

import (
	"os"
	"testing"
)

func TestAppendSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1,023 B"}, {1024, "1.0 KiB"}, {98_509, "96.2 KiB"},
		{1024*1024 - 1, "1.0 MiB"}, {1024*1024*1024 - 52, "1.0 GiB"}, {1536 * 1024, "1.5 MiB"},
		{1 << 62, "4.0 EiB"},
	}
	for _, tt := range tests {
		if got := string(appendSize(nil, tt.n)); got != tt.want {
			t.Errorf("appendSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestAppendGrouped(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {1284, "1,284"}, {-1234567, "-1,234,567"},
		{-9223372036854775808, "-9,223,372,036,854,775,808"},
	}
	for _, tt := range tests {
		if got := string(appendGrouped(nil, tt.n)); got != tt.want {
			t.Errorf("appendGrouped(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestUseColor(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	notTTY, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer notTTY.Close()
	tests := []struct {
		name   string
		mode   string
		f      *os.File
		getenv func(string) string
		want   bool
	}{
		{"always beats NO_COLOR", "always", notTTY, env("NO_COLOR", "1"), true},
		{"never", "never", notTTY, nil, false},
		{"auto on a file", "auto", notTTY, nil, false},
		{"auto with nil file", "auto", nil, nil, false},
		{"auto with NO_COLOR", "auto", notTTY, env("NO_COLOR", "1"), false},
		{"auto with empty NO_COLOR on a file", "auto", notTTY, env("NO_COLOR", ""), false},
		{"auto with TERM=dumb", "auto", notTTY, env("TERM", "dumb"), false},
	}
	for _, tt := range tests {
		m, err := ParseColorMode(tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		if m.String() != tt.mode {
			t.Errorf("%v.String() = %q", m, m.String())
		}
		if got := UseColor(m, tt.f, tt.getenv); got != tt.want {
			t.Errorf("%s: UseColor = %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := ParseColorMode("sometimes"); err == nil {
		t.Error("ParseColorMode accepted \"sometimes\"")
	}
}
