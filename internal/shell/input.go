package shell

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Input is where the shell's commands and secrets come from.
type Input interface {
	// ReadLine returns the next command line without its line ending; io.EOF ends the session
	// (without QUIT).
	ReadLine() (string, error)
	// Password returns the password for a PASS typed without one.
	Password() (string, error)
	// Answer returns the client's answer to a SASL continuation (RFC 5034 §4).
	Answer() (string, error)
	// Echo shows the line just sent: typed as the user entered it, safe with every secret
	// replaced by codec.Redacted.
	Echo(typed, safe string)
}

// Script is an Input reading one command per line from a file or a pipe; a SASL answer is
// the next line. Blank lines and lines starting with "#" are skipped.
type Script struct {
	r        *bufio.Reader
	out      io.Writer
	password func() (string, error)
}

// NewScript returns a Script reading r. Each command sent is echoed to out as "> " and its
// safe rendering. password supplies a bare PASS (from POPWIRE_PASSWORD in popwire); nil
// makes a bare PASS an error.
func NewScript(r io.Reader, out io.Writer, password func() (string, error)) *Script {
	return &Script{r: bufio.NewReader(r), out: out, password: password}
}

// ReadLine returns the next command line.
func (s *Script) ReadLine() (string, error) {
	for {
		line, err := s.line()
		if err != nil {
			return "", err
		}
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			return line, nil
		}
	}
}

func (s *Script) line() (string, error) {
	line, err := s.r.ReadString('\n')
	if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
		if errors.Is(err, io.EOF) {
			return "", io.EOF
		}
		return "", fmt.Errorf("shell: script: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// Password returns the password from the function given to NewScript.
func (s *Script) Password() (string, error) {
	if s.password == nil {
		return "", errors.New("shell: a bare PASS in a script needs a password source")
	}
	return s.password()
}

// Answer returns the next line of the script, as it is.
func (s *Script) Answer() (string, error) { return s.line() }

// Echo prints "> " and the safe rendering.
func (s *Script) Echo(_, safe string) { fmt.Fprintf(s.out, "> %s\n", visible(safe)) }
