package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/popwire/popwire/internal/probe"
)

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
			oauthFlag("log in with the OAuth token of --user, an account authorised with popwire auth login for this `PROVIDER`; the password asked for is its local password (the report shows the token's scope and expiry, never the token)"),
		}, append(oauthRefreshFlags(), serverFlags("do not fail on the certificate (the report still says whether it would verify)")...)...),
		Action: runProbe,
	}
}

func runProbe(c *cli.Context) error {
	if err := oneServer(c); err != nil {
		return err
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
	tokens, mech, err := oauthBridge(c)
	if err != nil {
		return err
	}
	if tokens != nil {
		if o.User == "" {
			return usagef("--oauth needs --user ADDRESS, the account authorised with popwire auth login")
		}
		o.OAuth, o.OAuthMechanism = tokens, mech
	}
	if o.User != "" {
		what := "password for " + o.User
		if tokens != nil {
			what = "local password of " + o.User + " (chosen at popwire auth login)"
		}
		if o.Password, err = readPassword(c.App.ErrWriter, what); err != nil {
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
