package termtext

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestAppend(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"ASCII", "+OK 2 messages (320 octets)", "+OK 2 messages (320 octets)"},
		{"UTF-8", "café 日本 😀 \u00a0nbsp", "café 日本 😀 \u00a0nbsp"},
		{"U+FFFD stays", "a\uFFFDb", "a\uFFFDb"},

		{"NUL", "a\x00b", "a␀b"},
		{"escape sequence", "\x1b[2J\x1b]0;title\x07", "␛[2J␛]0;title␇"},
		{"line endings", "a\r\nb\rc\nd", "a␍␊b␍c␊d"},
		{"tab and backspace", "a\tb\bc", "a␉b␈c"},
		{"last C0", "\x1f", "␟"},
		{"DEL", "a\x7fb", "a␡b"},

		{"first C1", "\u0080", "\uFFFD"},
		{"C1 CSI", "x\u009b2Jy", "x\uFFFD2Jy"},
		{"last C1", "\u009f", "\uFFFD"},
		{"C1 as a raw byte", "x\x9b2J", "x\uFFFD2J"},

		{"ALM U+061C", "a\u061cb", "a\uFFFDb"},
		{"LRM U+200E", "a\u200eb", "a\uFFFDb"},
		{"RLM U+200F", "a\u200fb", "a\uFFFDb"},
		{"LRE U+202A", "a\u202ab", "a\uFFFDb"},
		{"RLE U+202B", "a\u202bb", "a\uFFFDb"},
		{"PDF U+202C", "a\u202cb", "a\uFFFDb"},
		{"LRO U+202D", "a\u202db", "a\uFFFDb"},
		{"RLO U+202E", "invoice\u202efdp.exe", "invoice\uFFFDfdp.exe"},
		{"LRI U+2066", "a\u2066b", "a\uFFFDb"},
		{"RLI U+2067", "a\u2067b", "a\uFFFDb"},
		{"FSI U+2068", "a\u2068b", "a\uFFFDb"},
		{"PDI U+2069", "a\u2069b", "a\uFFFDb"},

		{"invalid byte", "a\xffb", "a\uFFFDb"},
		{"truncated sequence", "a\xe2\x80", "a\uFFFD\uFFFD"},
		{"overlong encoding", "\xc0\xaf", "\uFFFD\uFFFD"},
		{"surrogate", "\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"split bidi control", "\xe2\x80", "\uFFFD\uFFFD"},

		{"neighbours are kept", "\u00a0\u200d\u2028\u2065\u206a", "\u00a0\u200d\u2028\u2065\u206a"},
		{"everything at once", "x\x1b[31mred\u009b2J\u202egnp.exe\xff", "x␛[31mred\uFFFD2J\uFFFDgnp.exe\uFFFD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Append([]byte("prefix|"), tc.in)
			if string(got) != "prefix|"+tc.want {
				t.Errorf("Append(%q) = %q, want %q", tc.in, got, "prefix|"+tc.want)
			}
		})
	}
}

// TestAppendEveryRune checks every code point: the result is valid UTF-8 without a single C0,
// DEL, C1 or bidirectional control.
func TestAppendEveryRune(t *testing.T) {
	var in strings.Builder
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if utf8.ValidRune(r) {
			in.WriteRune(r)
		}
	}
	out := string(Append(nil, in.String()))
	if !utf8.ValidString(out) {
		t.Fatal("the result is not valid UTF-8")
	}
	for _, r := range out {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || unicode.Is(unicode.Bidi_Control, r) {
			t.Errorf("%U reached the output", r)
		}
	}
}
