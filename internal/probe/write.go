package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fatih/color"

	"github.com/popwire/popwire/internal/termtext"
)

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("probe: write json: %w", err)
	}
	return nil
}

// WriteText writes the report for a person, one line per step with ✓ or ✗ and its time,
// then its details, error and hint, indented; colour adds ANSI colours.
func (r *Report) WriteText(w io.Writer, colour bool) error {
	paint := func(attrs ...color.Attribute) func(string) string {
		c := color.New(attrs...)
		if colour {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return func(s string) string { return c.Sprint(s) }
	}
	good, bad, faint, hint := paint(color.FgGreen, color.Bold), paint(color.FgRed, color.Bold), paint(color.Faint), paint(color.FgYellow)
	var b strings.Builder
	fmt.Fprintf(&b, "probing %s (%s)\n", r.Addr, map[string]string{"implicit": "implicit TLS", "starttls": "STLS"}[r.Mode])
	for _, s := range r.Steps {
		mark := good("✓")
		if !s.OK {
			mark = bad("✗")
		}
		fmt.Fprintf(&b, "%s %-8s %8s  %s\n", mark, s.Name, faint(roundDuration(s.Took)), oneLine(s.Summary))
		for _, d := range s.Details {
			fmt.Fprintf(&b, "      %s\n", oneLine(d))
		}
		if s.Error != "" {
			fmt.Fprintf(&b, "      %s %s\n", bad("error:"), oneLine(s.Error))
		}
		if s.Hint != "" {
			fmt.Fprintf(&b, "      %s %s\n", hint("hint:"), oneLine(s.Hint))
		}
	}
	if r.OK {
		fmt.Fprintf(&b, "%s every step passed\n", good("✓"))
	} else {
		fmt.Fprintf(&b, "%s the probe failed\n", bad("✗"))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("probe: write: %w", err)
	}
	return nil
}

// roundDuration renders d to a useful precision: 0.4ms, 12ms, 1.3s.
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// oneLine makes a server-supplied text safe for one terminal line (see termtext.Append): line
// breaks, escape sequences and bidirectional controls become visible or U+FFFD.
func oneLine(s string) string {
	return string(termtext.Append(nil, s))
}
