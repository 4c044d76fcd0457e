package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/popwire/popwire/internal/oauth"
)

// minLocalPassword is the shortest local password auth login accepts.
const minLocalPassword = 8

func authCommand() *cli.Command {
	return &cli.Command{
		Name:         "auth",
		Usage:        "authorise accounts for the OAuth bridge (login), list them, and remove them (logout)",
		OnUsageError: onUsageError,
		Subcommands: []*cli.Command{
			{
				Name:         "login",
				Usage:        "authorise ADDRESS with its provider once, and store its token encrypted under a local password",
				ArgsUsage:    "ADDRESS",
				OnUsageError: onUsageError,
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "provider", Usage: "google | microsoft | NAME (a custom provider, given by the --oauth-… endpoint flags)"},
					&cli.StringFlag{Name: "flow", Usage: "loopback (a browser and a redirect to 127.0.0.1; google's only flow) | device (a code to type on any device; microsoft's default)"},
					&cli.BoolFlag{Name: "no-browser", Usage: "print the address to open instead of starting a browser, and read the address the browser ends on from stdin (over SSH, in a container)"},
				}, oauthFlags()...),
				Action: authLogin,
			},
			{
				Name:         "list",
				Usage:        "list the authorised accounts: provider, access token expiry, last refresh (never a token)",
				OnUsageError: onUsageError,
				Action:       authList,
			},
			{
				Name:         "logout",
				Usage:        "delete ADDRESS's stored token, revoking it first where the provider can (RFC 7009)",
				ArgsUsage:    "ADDRESS",
				OnUsageError: onUsageError,
				Action:       authLogout,
			},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown auth command %q: use login, list or logout", c.Args().First())
			}
			return usagef("auth needs a command: login, list or logout (see popwire auth --help)")
		},
	}
}

// authLogin runs auth login ADDRESS.
func authLogin(c *cli.Context) error {
	address, err := oneAddress(c)
	if err != nil {
		return err
	}
	if c.String("provider") == "" {
		return usagef("auth login needs --provider google, microsoft or a custom NAME")
	}
	p, err := oauthProviderFromFlags(c, c.String("provider"))
	if err != nil {
		return err
	}
	var flow oauth.Flow
	if f := c.String("flow"); f != "" {
		if flow, err = oauth.ParseFlow(f); err != nil {
			return usagef("--flow: %v", err)
		}
	}
	store, err := defaultStore()
	if err != nil {
		return err
	}
	if _, err := store.Path(address); err != nil {
		return usagef("%v", err)
	}
	password, err := localPassword(c.App.ErrWriter, true)
	if err != nil {
		return err
	}
	g, err := oauth.Login{Provider: p, Address: address, Flow: flow, NoBrowser: c.Bool("no-browser"),
		Out: c.App.Writer, In: os.Stdin}.Authorize(c.Context)
	if err != nil {
		return err
	}
	acct, err := store.Save(p, address, g, password)
	if err != nil {
		return err
	}
	path, _ := store.Path(address) // Save has checked the address
	granted := ""
	if acct.Scope != "" {
		granted = fmt.Sprintf("scope %q, ", acct.Scope)
	}
	fmt.Fprintf(c.App.Writer, "Authorised %s with %s (%saccess token valid until %s); the token is stored encrypted in %s.\n",
		address, p.Name, granted, formatTime(acct.Expiry), path)
	fmt.Fprintf(c.App.Writer, "Configure the mail client with user %s and the local password you chose, server 127.0.0.1 port 1110, where popwire serves with --oauth %s.\n",
		address, p.Name)
	return nil
}

// authList runs auth list.
func authList(c *cli.Context) error {
	if err := noArguments(c); err != nil {
		return err
	}
	store, err := defaultStore()
	if err != nil {
		return err
	}
	accounts, err := store.List()
	if err != nil {
		return err
	}
	if len(accounts) == 0 {
		fmt.Fprintf(c.App.Writer, "No account is authorised (in %s): run popwire auth login ADDRESS --provider PROVIDER.\n", store.Dir)
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tPROVIDER\tACCESS TOKEN EXPIRES\tLAST REFRESH")
	for _, a := range accounts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Address, a.Provider, formatTime(a.Expiry), formatTime(a.LastRefresh))
	}
	return tw.Flush()
}

// authLogout runs auth logout ADDRESS.
func authLogout(c *cli.Context) error {
	address, err := oneAddress(c)
	if err != nil {
		return err
	}
	store, err := defaultStore()
	if err != nil {
		return err
	}
	acct, err := store.Lookup(address)
	if err != nil {
		return err
	}
	if acct.RevocationURL != "" {
		password, err := localPassword(c.App.ErrWriter, false)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Context, time.Minute)
		defer cancel()
		if err := store.Revoke(ctx, address, password, nil); err != nil {
			path, _ := store.Path(address) // Lookup has checked the address
			return fmt.Errorf("%w; the token is kept: try again, or delete %s yourself and remove popwire's access in the account's security settings",
				err, path)
		}
		fmt.Fprintf(c.App.Writer, "%s revoked the refresh token of %s.\n", acct.Provider, address)
	} else {
		fmt.Fprintf(c.App.Writer, "%s has no revocation endpoint, so the refresh token stays valid until it expires: to end popwire's access now, remove it in the account's security settings.\n", acct.Provider)
	}
	if err := store.Delete(address); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Deleted the stored token of %s.\n", address)
	return nil
}

// oneAddress returns the one ADDRESS argument of auth login and logout.
func oneAddress(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", usagef("auth %s takes one ADDRESS (got %d arguments)", c.Command.Name, c.NArg())
	}
	return c.Args().First(), nil
}

// formatTime shows a time of a token file in local time; "unknown" for zero.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.Local().Format("2006-01-02 15:04 MST")
}

// localPassword returns the local password from POPWIRE_PASSWORD or, on a terminal, from a
// prompt on w without echo, asked twice when confirm is set (auth login chooses it). It is
// never printed.
func localPassword(w io.Writer, confirm bool) (string, error) {
	pw, fromEnv := os.LookupEnv(passwordEnv)
	if !fromEnv {
		fd := int(os.Stdin.Fd())
		if !term.IsTerminal(fd) {
			return "", usagef("no local password: set %s or run on a terminal to be prompted", passwordEnv)
		}
		prompt := "Local password (to unlock the token; the mail client logs in with it; not shown): "
		if !confirm {
			prompt = "Local password (not shown): "
		}
		first, err := readHidden(w, fd, prompt)
		if err != nil {
			return "", err
		}
		if confirm {
			again, err := readHidden(w, fd, "The same password again: ")
			if err != nil {
				return "", err
			}
			if again != first {
				return "", errors.New("auth: the two passwords differ: run auth login again")
			}
		}
		pw = first
	}
	if confirm && len(pw) < minLocalPassword {
		return "", usagef("the local password must have at least %d characters: it is all that protects a copied token file", minLocalPassword)
	}
	return pw, nil
}

// readHidden prompts on w and reads a line from the terminal fd without echo.
func readHidden(w io.Writer, fd int, prompt string) (string, error) {
	fmt.Fprint(w, prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return "", fmt.Errorf("auth: reading the password: %w", err)
	}
	return string(b), nil
}
