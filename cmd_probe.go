package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/popwire/popwire/logview"
	"github.com/popwire/popwire/popclient"
	"github.com/popwire/popwire/probe"
)

// passwordEnv names the environment variable that supplies the POP3 password to probe and
// shell, so that it never appears on a command line.
const passwordEnv = "POPWIRE_PASSWORD"

func probeCommand() *cli.Command {
	return &cli.Command{
		Name:         "probe",
		Usage:        "diagnose a POP3 server step by step: DNS, TCP, TLS, greeting, CAPA, login, STAT (never deletes)",
		ArgsUsage:    "[HOST:PORT]",
		OnUsageError: onUsageError,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "starttls", Usage: "read a plaintext greeting, then upgrade with STLS (port 110) instead of implicit TLS (port 995)"},
			&cli.StringFlag{Name: "user", Usage: "log in as this user (password from " + passwordEnv + " or a prompt), then STAT"},
			&cli.StringFlag{Name: "auth", Value: "auto", Usage: "login method: auto (AUTH PLAIN when offered), user (USER/PASS) or plain (AUTH PLAIN)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.DurationFlag{Name: "timeout", Value: probe.DefaultTimeout, Usage: "bound on each step"},
		}, serverFlags("do not fail on the certificate (the report still says whether it would verify)")...),
		Action: runProbe,
	}
}

func runProbe(c *cli.Context) error {
	if c.NArg() > 1 {
		return usagef("probe takes at most one HOST:PORT (got %d arguments)", c.NArg())
	}
	auth := c.String("auth")
	switch auth {
	case "auto":
		auth = ""
	case "user", "plain":
	default:
		return usagef("--auth must be auto, user or plain (got %q)", auth)
	}
	roots, colour, err := serverOptions(c)
	if err != nil {
		return err
	}
	o := probe.Options{
		Addr: c.Args().First(), StartTLS: c.Bool("starttls"), ServerName: c.String("upstream-name"),
		RootCAs: roots, InsecureSkipVerify: c.Bool("insecure-skip-verify"), User: c.String("user"),
		Auth: auth, Timeout: c.Duration("timeout"),
	}
	if o.User != "" {
		if o.Password, err = readPassword(c.App.ErrWriter, "password for "+o.User); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := probe.Run(ctx, o)
	if c.Bool("json") {
		err = r.WriteJSON(c.App.Writer)
	} else {
		err = r.WriteText(c.App.Writer, colour)
	}
	if err != nil {
		return err
	}
	if !r.OK {
		return errors.New("probe: a step failed")
	}
	return nil
}

// serverFlags are the flags probe and shell share to reach and verify a POP3 server, and to
// colour their output; skipVerify explains --insecure-skip-verify for the command.
func serverFlags(skipVerify string) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "upstream-ca", Usage: "extra PEM root certificates to trust (added to the system roots)"},
		&cli.StringFlag{Name: "upstream-name", Usage: "SNI and certificate name to check (default: the HOST)"},
		&cli.BoolFlag{Name: "insecure-skip-verify", Usage: skipVerify},
		&cli.StringFlag{Name: "color", Value: "auto", EnvVars: []string{"POPWIRE_COLOR"}, Usage: "colour: auto, always or never"},
	}
}

// serverOptions reads serverFlags: the roots to verify the server with, and whether stdout
// gets colour.
func serverOptions(c *cli.Context) (*x509.CertPool, bool, error) {
	colour, err := colorFlag(c)
	if err != nil {
		return nil, false, err
	}
	roots, err := popclient.LoadRoots(c.StringSlice("upstream-ca")...)
	if err != nil {
		return nil, false, usagef("%v", err)
	}
	return roots, colour, nil
}

// colorFlag decides from --color whether stdout gets colour.
func colorFlag(c *cli.Context) (bool, error) {
	mode, err := logview.ParseColorMode(c.String("color"))
	if err != nil {
		return false, usagef("--color: %v", err)
	}
	var f *os.File
	if w, ok := c.App.Writer.(*os.File); ok {
		f = w
	}
	return logview.UseColor(mode, f, os.Getenv), nil
}

// readPassword returns the password from POPWIRE_PASSWORD or, on a terminal, from a prompt
// on w without echo. It is never printed.
func readPassword(w io.Writer, what string) (string, error) {
	if pw, ok := os.LookupEnv(passwordEnv); ok {
		return pw, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", usagef("no password: set %s or run on a terminal to be prompted", passwordEnv)
	}
	fmt.Fprintf(w, "%s (not shown): ", what)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return string(pw), nil
}
