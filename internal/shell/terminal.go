package shell

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"
)

// Prompt is the interactive prompt.
const Prompt = "pop> "

// Terminal is an Input reading from an interactive terminal with line editing and an
// in-memory history that holds only safe renderings (no history file is written). Ctrl-C and
// Ctrl-D at the prompt end the session.
type Terminal struct {
	t     *term.Terminal
	out   io.Writer
	raw   func() (restore func(), err error)
	size  func() (width int, err error)
	hist  *history
	shown string // the last line read with echo, as it stands on the screen
}

// NewTerminal returns a Terminal on the terminal whose file descriptor is fd, reading rw
// (usually stdin and stdout joined). The terminal is put in raw mode only while a line is
// read.
func NewTerminal(fd int, rw io.ReadWriter) *Terminal {
	raw := func() (func(), error) {
		st, err := term.MakeRaw(fd)
		if err != nil {
			return nil, fmt.Errorf("shell: terminal: %w", err)
		}
		return func() { term.Restore(fd, st) }, nil
	}
	size := func() (int, error) {
		w, _, err := term.GetSize(fd)
		return w, err
	}
	return newTerminal(rw, raw, size)
}

func newTerminal(rw io.ReadWriter, raw func() (func(), error), size func() (int, error)) *Terminal {
	h := &history{}
	t := term.NewTerminal(rw, Prompt)
	t.History = h
	return &Terminal{t: t, out: rw, raw: raw, size: size, hist: h}
}

// read runs f with the terminal in raw mode and the current width.
func (t *Terminal) read(f func() (string, error)) (string, error) {
	if w, err := t.size(); err == nil && w > 0 {
		t.t.SetSize(w, 24)
	}
	restore, err := t.raw()
	if err != nil {
		return "", err
	}
	defer restore()
	return f()
}

// ReadLine reads a command line with editing; Ctrl-C and Ctrl-D give io.EOF.
func (t *Terminal) ReadLine() (string, error) {
	line, err := t.read(t.t.ReadLine)
	t.shown = line
	return line, err
}

// Password reads a password without echo.
func (t *Terminal) Password() (string, error) {
	t.shown = ""
	return t.read(func() (string, error) { return t.t.ReadPassword("password (not shown): ") })
}

// Answer reads a SASL answer without echo.
func (t *Terminal) Answer() (string, error) {
	t.shown = ""
	return t.read(func() (string, error) { return t.t.ReadPassword("SASL answer, base64 (not shown): ") })
}

// Echo keeps safe in the history and, when the line on screen is typed and carried a
// secret, overwrites it with safe.
func (t *Terminal) Echo(typed, safe string) {
	t.hist.keep(safe)
	// The shell trims what it sends; the screen shows the line as typed, blanks and all.
	if typed == safe || strings.TrimSpace(typed) != strings.TrimSpace(t.shown) {
		return
	}
	width, err := t.size()
	if err != nil || width <= 0 {
		width = 80
	}
	rows := (utf8.RuneCountInString(Prompt)+utf8.RuneCountInString(t.shown))/width + 1
	// Up rows lines, to column 0, erase to the end of the screen, then the safe line.
	fmt.Fprintf(t.out, "\x1b[%dA\r\x1b[J%s%s\n", rows, Prompt, safe)
}

// historySize is the number of lines the history keeps.
const historySize = 100

// history is the Terminal's line history. It ignores what the terminal adds on its own (the
// line as typed, which may hold a secret) and keeps only what Echo passes to keep.
type history struct {
	lines []string // oldest first
}

// Add ignores entry: the raw line may hold a secret.
func (h *history) Add(string) {}

// Len returns the number of lines kept.
func (h *history) Len() int { return len(h.lines) }

// At returns a line, 0 being the most recent.
func (h *history) At(i int) string { return h.lines[len(h.lines)-1-i] }

func (h *history) keep(s string) {
	if s == "" || (len(h.lines) > 0 && h.lines[len(h.lines)-1] == s) {
		return
	}
	if len(h.lines) == historySize {
		h.lines = append(h.lines[:0], h.lines[1:]...)
	}
	h.lines = append(h.lines, s)
}
