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

	"github.com/popwire/popwire/internal/popclient"
	"github.com/popwire/popwire/internal/shell"
)

func shellCommand() *cli.Command {
	return &cli.Command{
		Name:         "shell",
		Usage:        "talk POP3 to a server by hand: multi-line replies end by themselves, secrets stay hidden",
		ArgsUsage:    "[HOST:PORT]",
		OnUsageError: onUsageError,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "starttls", Usage: "read a plaintext greeting, then upgrade with STLS instead of implicit TLS"},
			&cli.BoolFlag{Name: "plaintext", Usage: "no TLS at all: the password crosses the network in clear"},
			&cli.StringFlag{Name: "script", Usage: "run the commands of FILE (one per line; - for stdin) instead of prompting; " +
				"a bare PASS takes " + passwordEnv},
			&cli.DurationFlag{Name: "timeout", Value: popclient.DefaultDialTimeout, Usage: "bound on connecting"},
		}, serverFlags("do not verify the server certificate")...),
		Action: runShell,
	}
}

func runShell(c *cli.Context) error {
	if err := oneServer(c); err != nil {
		return err
	}
	mode := popclient.UpstreamImplicitTLS
	switch {
	case c.Bool("starttls") && c.Bool("plaintext"):
		return usagef("--starttls and --plaintext contradict each other")
	case c.Bool("starttls"):
		mode = popclient.UpstreamSTARTTLS
	case c.Bool("plaintext"):
		mode = popclient.UpstreamPlaintext
	}
	roots, colour, err := serverOptions(c)
	if err != nil {
		return err
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
