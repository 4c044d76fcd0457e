package audit

import (
	"strconv"
	"strings"
	"testing"
)

func TestUIDsLearn(t *testing.T) {
	long := strings.Repeat("u", MaxUIDLen)
	tests := []struct {
		name string
		line string
		n    int
		want string // Get(n) after learning line
	}{
		{name: "UIDL body line", line: "1 whqtswO00WBw418f9t5JxYwZ", n: 1, want: "whqtswO00WBw418f9t5JxYwZ"},
		{name: "with CRLF", line: "2 QhdPYR:00WBw1Ph7x7\r\n", n: 2, want: "QhdPYR:00WBw1Ph7x7"},
		{name: "triple space (thunderbird-android #323)", line: "3   uid-a", n: 3, want: "uid-a"},
		{name: "tabs and trailing blanks", line: " 4\t\tuid-b \t\r\n", n: 4, want: "uid-b"},
		{name: "Gmail style", line: "17 GmailId18e0a1b2c3d4e5f6", n: 17, want: "GmailId18e0a1b2c3d4e5f6"},
		{name: "every printable ASCII character", line: "5 !~\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", n: 5, want: "!~\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"},
		{name: "longest UID accepted", line: "6 " + long, n: 6, want: long},
		{name: "UID too long", line: "6 " + long + "u", n: 6, want: ""},
		{name: "no UID", line: "7", n: 7, want: ""},
		{name: "no UID, trailing space", line: "7 \r\n", n: 7, want: ""},
		{name: "no blank between", line: "8uid", n: 8, want: ""},
		{name: "zero", line: "0 uid", n: 0, want: ""},
		{name: "negative", line: "-1 uid", n: -1, want: ""},
		{name: "not a number", line: "one uid", n: 1, want: ""},
		{name: "third field", line: "9 uid extra", n: 9, want: ""},
		{name: "control character in UID", line: "10 ab\x1bc", n: 10, want: ""},
		{name: "8-bit UID", line: "11 caf\xc3\xa9", n: 11, want: ""},
		{name: "number overflow", line: "99999999999999999999 uid", n: 0, want: ""},
		{name: "status text of UIDL n", line: "12 uid-12", n: 12, want: "uid-12"},
		{name: "empty line", line: "", n: 1, want: ""},
		{name: "terminator", line: ".", n: 1, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u UIDs
			u.Learn([]byte(tt.line))
			if got := u.Get(tt.n); got != tt.want {
				t.Errorf("Learn(%q); Get(%d) = %q, want %q", tt.line, tt.n, got, tt.want)
			}
			if wantLen := min(len(tt.want), 1); count(&u) != wantLen {
				t.Errorf("Learn(%q): count() = %d, want %d", tt.line, count(&u), wantLen)
			}
		})
	}
}

func TestUIDsZeroAndUpdate(t *testing.T) {
	var u UIDs
	if got := u.Get(1); got != "" || count(&u) != 0 {
		t.Fatalf("zero UIDs: Get(1) = %q, count() = %d", got, count(&u))
	}
	u.Learn([]byte("1 old"))
	u.Learn([]byte("2 two"))
	u.Learn([]byte("1 new")) // a later UIDL n after the list: the server's latest word wins
	u.Learn([]byte("1 junk junk"))
	if got := u.Get(1); got != "new" {
		t.Errorf("Get(1) = %q, want %q", got, "new")
	}
	if got := u.Get(2); got != "two" {
		t.Errorf("Get(2) = %q, want %q", got, "two")
	}
	if got := u.Get(3); got != "" {
		t.Errorf("Get(3) = %q, want empty", got)
	}
}

func TestUIDsBounded(t *testing.T) {
	var u UIDs
	for n := 1; n <= MaxUIDs+10; n++ {
		u.Learn([]byte(strconv.Itoa(n) + " uid" + strconv.Itoa(n)))
	}
	if count(&u) != MaxUIDs {
		t.Fatalf("count() = %d after %d lines, want the cap %d", count(&u), MaxUIDs+10, MaxUIDs)
	}
	if got := u.Get(MaxUIDs); got != "uid"+strconv.Itoa(MaxUIDs) {
		t.Errorf("Get(MaxUIDs) = %q", got)
	}
	if got := u.Get(MaxUIDs + 1); got != "" {
		t.Errorf("Get(MaxUIDs+1) = %q, want empty beyond the cap", got)
	}
	u.Learn([]byte("5 renamed"))
	if got := u.Get(5); got != "renamed" {
		t.Errorf("known number not updated at the cap: Get(5) = %q", got)
	}
}

// count returns how many message numbers have a known UID.
func count(u *UIDs) int { return len(u.m) }
