package logview

import (
	"fmt"
	"os"

	"golang.org/x/term"
)

// ColorMode is the --color setting. The zero value is ColorAuto.
type ColorMode int

// The colour modes.
const (
	ColorAuto   ColorMode = iota // colour only on a terminal, and not when NO_COLOR is set or TERM=dumb
	ColorAlways                  // colour whatever the output is
	ColorNever                   // never colour
)

// ParseColorMode parses "auto", "always" or "never".
func ParseColorMode(s string) (ColorMode, error) {
	switch s {
	case "auto":
		return ColorAuto, nil
	case "always":
		return ColorAlways, nil
	case "never":
		return ColorNever, nil
	}
	return ColorAuto, fmt.Errorf("logview: color mode %q: want auto, always or never", s)
}

// String returns the flag spelling of m.
func (m ColorMode) String() string {
	switch m {
	case ColorAlways:
		return "always"
	case ColorNever:
		return "never"
	}
	return "auto"
}

// UseColor decides whether output to f is coloured. getenv looks up environment variables
// (os.Getenv in production; nil means no variables are set). In ColorAuto, colour is used when
// NO_COLOR is unset or empty (https://no-color.org), TERM is not "dumb", and f is a terminal; a
// nil f is not a terminal. ColorAlways and ColorNever ignore f and the environment, since a
// command-line flag overrides NO_COLOR.
func UseColor(m ColorMode, f *os.File, getenv func(string) string) bool {
	switch m {
	case ColorAlways:
		return true
	case ColorNever:
		return false
	}
	if getenv != nil && (getenv("NO_COLOR") != "" || getenv("TERM") == "dumb") {
		return false
	}
	return f != nil && term.IsTerminal(int(f.Fd()))
}
