package main

import "testing"

func TestParseStatTicks(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    uint64
		wantErr bool
	}{
		{"plain", "1234 (stunnel4) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 3 0 100 1000 50", 280, false},
		{"name with spaces and parens", "99 (a (b) c) R 1 99 99 0 -1 0 0 0 0 0 7 5 0 0 20 0 1 0 1 1 1", 12, false},
		{"no command", "1234 S 1", 0, true},
		{"short", "1 (x) S 1 2 3", 0, true},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 5 0 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatTicks([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatTicks = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatusKiB(t *testing.T) {
	const status = "Name:\tpopwire\nVmPeak:\t  9000 kB\nVmHWM:\t    4096 kB\nVmRSS:\t    1536 kB\nRssAnon:\t 1000 kB\n"
	tests := []struct {
		name, status, field string
		want                int64
		wantErr             bool
	}{
		{"VmRSS", status, "VmRSS", 1536 << 10, false},
		{"VmHWM", status, "VmHWM", 4096 << 10, false},
		{"missing", "Name:\tx\nVmPeak:\t 1 kB\n", "VmRSS", 0, true},
		{"prefix of another field", "VmRSSx:\t 5 kB\n", "VmRSS", 0, true},
		{"bad unit", "VmRSS:\t 12 MB\n", "VmRSS", 0, true},
		{"bad number", "VmRSS:\t x kB\n", "VmRSS", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusKiB([]byte(tt.status), tt.field)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatusKiB(%s) = %d, %v; want %d, error %v", tt.field, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseCPUModel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold\nflags\t: fpu\n", "Intel(R) Xeon(R) Gold"},
		{"processor\t: 0\n", "unknown"},
	}
	for _, tt := range tests {
		if got := parseCPUModel([]byte(tt.in)); got != tt.want {
			t.Errorf("parseCPUModel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
