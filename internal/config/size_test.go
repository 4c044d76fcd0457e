package config

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "64MiB": 64 << 20, "64 MiB": 64 << 20, "64mib": 64 << 20, " 512KiB ": 512 << 10,
		"2GiB": 2 << 30, "1TiB": 1 << 40, "100B": 100, "8388607TiB": 8388607 << 40,
	} {
		if got, err := ParseSize(in); got != want || err != nil {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"": "not a size", "MiB": "not a size", "64MB": "not a size", "64M": "not a size", "1.5GiB": "not a size",
		"-1MiB": "not a size", "+1MiB": "not a size", "64 MiB x": "not a size", "0x10": "not a size",
		"8388608TiB": "too large", "9223372036854775808": "too large",
	} {
		if got, err := ParseSize(in); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseSize(%q) = %d, %v; want an error saying %q", in, got, err, why)
		}
	}
}
