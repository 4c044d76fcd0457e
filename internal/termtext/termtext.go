// Package termtext makes text from the wire or from a file safe to print on a terminal. It is
// the one sanitiser of every popwire printer: the log Printer, the shell and the probe report.
package termtext

import (
	"unicode"
	"unicode/utf8"
)

// Append appends s to dst so that nothing in it can drive a terminal or disguise the line, and
// returns the extended slice. It replaces:
//
//   - C0 controls U+0000–U+001F (escape, carriage return, line feed and tab included) with the
//     Unicode control pictures U+2400–U+241F (␀ … ␛ … ␟), and DEL U+007F with U+2421 (␡);
//   - C1 controls U+0080–U+009F (U+009B is CSI to some terminals) with U+FFFD;
//   - the bidirectional controls (Unicode's Bidi_Control: U+061C, U+200E, U+200F,
//     U+202A–U+202E, U+2066–U+2069), which can make a line read differently from its bytes,
//     with U+FFFD;
//   - each byte that is not part of valid UTF-8 with U+FFFD.
//
// Everything else, U+FFFD itself included, is copied as it is.
func Append(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c < 0x20:
			dst = append(dst, 0xE2, 0x90, 0x80+c) // U+2400 + c
			i++
		case c == 0x7f:
			dst = append(dst, "␡"...)
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError || (r >= 0x80 && r <= 0x9f) || unicode.Is(unicode.Bidi_Control, r) {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
		}
	}
	return dst
}
