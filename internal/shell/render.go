package shell

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/fatih/color"
	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/termtext"
)

// printer writes replies in the colours of popwire's transcript (logview's Printer):
// +OK green, -ERR bold red, SASL continuations magenta, notes yellow, the end of a body faint.
type printer struct {
	w                          io.Writer
	ok, err, cont, note, faint *color.Color
	midLine                    bool // body data written so far does not end in a newline
}

func newPrinter(w io.Writer, on bool) *printer {
	mk := func(attrs ...color.Attribute) *color.Color {
		c := color.New(attrs...)
		if on {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c
	}
	return &printer{w: w, ok: mk(color.FgGreen), err: mk(color.FgRed, color.Bold), cont: mk(color.FgMagenta),
		note: mk(color.FgYellow), faint: mk(color.Faint)}
}

// part prints one part of a reply.
func (p *printer) part(pt popclient.Part) {
	switch pt.Kind {
	case popclient.PartStatus, popclient.PartTLS, popclient.PartChallenge:
		p.status(pt.Reply.Status, pt.Line)
	case popclient.PartLine:
		fmt.Fprintln(p.w, visible(pt.Line))
	case popclient.PartData:
		text := visibleBody(pt.Data)
		if text != "" {
			io.WriteString(p.w, text)
			p.midLine = !strings.HasSuffix(text, "\n")
		}
	case popclient.PartEnd:
		if p.midLine {
			fmt.Fprintln(p.w)
			p.midLine = false
		}
		fmt.Fprintln(p.w, p.faint.Sprintf(". (%d lines, %d octets)", pt.Lines, pt.Octets))
	case popclient.PartNote:
		p.notef("%s", pt.Line)
	}
}

func (p *printer) status(s codec.Status, line string) {
	c := p.ok
	switch s {
	case codec.StatusErr:
		c = p.err
	case codec.StatusContinue:
		c = p.cont
	}
	fmt.Fprintln(p.w, c.Sprint(visible(line)))
}

// notef prints a line of the shell's own, marked "!".
func (p *printer) notef(format string, args ...any) {
	if p.midLine {
		fmt.Fprintln(p.w)
		p.midLine = false
	}
	fmt.Fprintln(p.w, p.note.Sprint("! "+visible(fmt.Sprintf(format, args...))))
}

// visible makes a server line safe for the terminal (see termtext.Append), so a hostile line
// cannot move the cursor, forge output or read differently from its bytes.
func visible(s string) string {
	return string(termtext.Append(nil, s))
}

// visibleBody makes message content safe for the terminal: line feeds and tabs stay, carriage
// returns are dropped (a lone CR could overwrite a line), and the text between them goes
// through termtext.Append.
func visibleBody(data []byte) string {
	var b []byte
	for len(data) > 0 {
		i := bytes.IndexAny(data, "\n\t\r")
		if i < 0 {
			return string(termtext.Append(b, string(data)))
		}
		b = termtext.Append(b, string(data[:i]))
		if data[i] != '\r' {
			b = append(b, data[i])
		}
		data = data[i+1:]
	}
	return string(b)
}
