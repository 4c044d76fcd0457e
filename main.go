// Command popwire is a transparent POP3 TLS proxy and traffic inspector.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/termtext"
)

// version is the release version; set it with -ldflags "-X main.version=v1.2.3". When empty,
// the module version from the build information is used.
var version string

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// usageError marks a command-line mistake: exit status 2.
type usageError struct{ error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// run runs the app and returns the exit status: 0 success, 1 runtime failure, 2 usage error.
// Every failure prints one line on stderr, sanitised by termtext.Append: an error may quote
// what a server sent, such as its certificate's issuer.
func run(args []string, stdout, stderr io.Writer) int {
	err := runApp(newApp(stdout, stderr), args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "popwire: %s\n", termtext.Append(nil, err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// runApp runs app with args (the program name, then its arguments), flags first wherever they
// were typed (see flagsFirst), every other word an argument (see noHelpSubcommands); an
// unknown command is a usage error.
func runApp(app *cli.App, args []string) error {
	var unknown string
	app.CommandNotFound = func(_ *cli.Context, name string) { unknown = name }
	noHelpSubcommands(app.Commands)
	if len(args) > 1 {
		rest, err := flagsFirst(app.Flags, app.Commands, args[1:])
		if err != nil {
			return err
		}
		args = append(args[:1:1], rest...)
	}
	if err := app.Run(args); err != nil {
		return err
	}
	if unknown != "" {
		return usagef("unknown command %q (see popwire --help)", unknown)
	}
	return nil
}

func newApp(stdout, stderr io.Writer) *cli.App {
	cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintf(c.App.Writer, "popwire %s\n", c.App.Version) }
	return &cli.App{
		Name:           "popwire",
		Usage:          "transparent POP3 TLS proxy and traffic inspector",
		Version:        versionString(),
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		Commands:       []*cli.Command{serveCommand(), demoCommand(), viewCommand(), probeCommand(), shellCommand(), certCommand(), authCommand()},
	}
}

// onUsageError turns a flag parsing error into a usageError (one line, exit status 2).
func onUsageError(_ *cli.Context, err error, _ bool) error {
	return usageError{err}
}

// versionString returns the version and the VCS commit the binary was built from.
func versionString() string {
	v := version
	bi, ok := debug.ReadBuildInfo()
	if v == "" && ok {
		v = bi.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	if !ok {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev == "" {
		return v
	}
	return fmt.Sprintf("%s (commit %s%s)", v, rev, modified)
}
