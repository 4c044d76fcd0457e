package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/popwire/popwire/proxy"
	"github.com/popwire/popwire/shell"
)

func shellCommand() *cli.Command {
	return &cli.Command{
		Name:         "shell",
		Usage:        "talk POP3 to a server by hand: multi-line replies end by themselves, secrets stay hidden",
		ArgsUsage:    "[HOST:PORT]",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "starttls", Usage: "read a plaintext greeting, then upgrade with STLS instead of implicit TLS"},
			&cli.BoolFlag{Name: "plaintext", Usage: "no TLS at all: the password crosses the network in clear"},
			&cli.StringSliceFlag{Name: "upstream-ca", Usage: "extra PEM root certificates to trust (added to the system roots)"},
			&cli.StringFlag{Name: "upstream-name", Usage: "SNI and certificate name to check (default: the HOST)"},
			&cli.BoolFlag{Name: "insecure-skip-verify", Usage: "do not verify the server certificate"},
			&cli.StringFlag{Name: "script", Usage: "run the commands of FILE (one per line; - for stdin) instead of prompting; " +
				"a bare PASS takes " + passwordEnv},
			&cli.DurationFlag{Name: "timeout", Value: proxy.DefaultDialTimeout, Usage: "bound on connecting"},
			&cli.StringFlag{Name: "color", Value: "auto", EnvVars: []string{"POPWIRE_COLOR"}, Usage: "colour: auto, always or never"},
		},
		Action: runShell,
	}
}

func runShell(c *cli.Context) error {
	if c.NArg() > 1 {
		return usagef("shell takes at most one HOST:PORT (got %d arguments)", c.NArg())
	}
	mode := proxy.UpstreamImplicitTLS
	switch {
	case c.Bool("starttls") && c.Bool("plaintext"):
		return usagef("--starttls and --plaintext contradict each other")
	case c.Bool("starttls"):
		mode = proxy.UpstreamSTARTTLS
	case c.Bool("plaintext"):
		mode = proxy.UpstreamPlaintext
	}
	colour, err := colorFlag(c)
	if err != nil {
		return err
	}
	roots, err := proxy.LoadRoots(c.StringSlice("upstream-ca")...)
	if err != nil {
		return usagef("%v", err)
	}
	in, closeIn, err := shellInput(c)
	if err != nil {
		return err
	}
	defer closeIn()
	o := shell.Options{
		Addr: c.Args().First(), Mode: mode, ServerName: c.String("upstream-name"), RootCAs: roots,
		InsecureSkipVerify: c.Bool("insecure-skip-verify"), Timeout: c.Duration("timeout"), Color: colour,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = shell.Run(ctx, o, in, c.App.Writer)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// shellInput returns the shell's Input: the --script file, stdin when it is not a terminal,
// else the interactive terminal.
func shellInput(c *cli.Context) (shell.Input, func(), error) {
	envPassword := func() (string, error) {
		if pw, ok := os.LookupEnv(passwordEnv); ok {
			return pw, nil
		}
		return "", errors.New("shell: a bare PASS in a script needs " + passwordEnv)
	}
	switch path := c.String("script"); {
	case path == "-":
		return shell.NewScript(os.Stdin, c.App.Writer, envPassword), func() {}, nil
	case path != "":
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, usagef("--script: %v", err)
		}
		return shell.NewScript(f, c.App.Writer, envPassword), func() { f.Close() }, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return shell.NewScript(os.Stdin, c.App.Writer, envPassword), func() {}, nil
	}
	rw := struct {
		io.Reader
		io.Writer
	}{os.Stdin, c.App.Writer}
	return shell.NewTerminal(fd, rw), func() {}, nil
}
