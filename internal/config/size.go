package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the units ParseSize accepts, in bytes. Only binary units: "MB" would leave it
// open whether 10⁶ or 2²⁰ bytes are meant.
var sizeUnits = map[string]int64{"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}

// ParseSize parses a size in bytes: a whole number, optionally followed (a space between
// allowed) by B, KiB, MiB, GiB or TiB in any letter case, such as "64MiB", "512 KiB" or
// "1048576".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	digits := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	if digits < 0 {
		digits = len(t)
	}
	unit, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[digits:]))]
	n, err := strconv.ParseInt(t[:digits], 10, 64)
	switch {
	case !ok || digits == 0:
		return 0, fmt.Errorf("%q is not a size (use a number of bytes, or KiB, MiB, GiB: 64MiB)", s)
	case err != nil || n > math.MaxInt64/unit:
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * unit, nil
}
