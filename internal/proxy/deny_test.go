package proxy

import (
	"maps"
	"slices"
	"testing"
)

// TestNewDenyList checks that New reads Config.Deny as --deny does: keyword lists are split
// and normalised, and an entry that is no command keyword is refused rather than ignored.
func TestNewDenyList(t *testing.T) {
	tests := []struct {
		deny []string
		want []string // nil: New fails
	}{
		{[]string{"dele", " Top "}, []string{"DELE", "TOP"}},
		{[]string{"DELE, RETR"}, []string{"DELE", "RETR"}},
		{[]string{"DE LE"}, nil},
		{[]string{""}, nil},
		{[]string{"DELE,"}, nil},
	}
	for _, tt := range tests {
		srv, err := New(Config{Deny: tt.deny})
		if tt.want == nil {
			if err == nil {
				t.Errorf("New(Deny: %q) succeeded, want an error", tt.deny)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(Deny: %q): %v", tt.deny, err)
			continue
		}
		if got := slices.Sorted(maps.Keys(srv.deny)); !slices.Equal(got, tt.want) {
			t.Errorf("New(Deny: %q) denies %q, want %q", tt.deny, got, tt.want)
		}
	}
}

func TestParseDeny(t *testing.T) {
	tests := []struct {
		entries []string
		want    []string
		ok      bool
	}{
		{nil, nil, true},
		{[]string{"dele"}, []string{"DELE"}, true},
		{[]string{" top , RETR", "uidl"}, []string{"TOP", "RETR", "UIDL"}, true},
		{[]string{"XTENSION"}, []string{"XTENSION"}, true},
		{[]string{"DELE,"}, nil, false},
		{[]string{""}, nil, false},
		{[]string{"DE"}, nil, false},
		{[]string{"XTENSIONS"}, nil, false},
		{[]string{"DE\tLE"}, nil, false},
	}
	for _, tt := range tests {
		got, err := ParseDeny(tt.entries)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("ParseDeny(%q) = %q, %v; want %q, ok %v", tt.entries, got, err, tt.want, tt.ok)
		}
	}
}
