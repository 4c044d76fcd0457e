package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func certCommand() *cli.Command {
	return &cli.Command{
		Name:         "cert",
		Usage:        "print the local CA's path and SHA-256 fingerprint (creating it on first use)",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "export", EnvVars: []string{"POPWIRE_CERT_EXPORT"},
				Usage: "also write the CA certificate (PEM) to `FILE`, to be trusted by a mail client"},
		},
		Action: func(c *cli.Context) error {
			if err := noArguments(c); err != nil {
				return err
			}
			lc, err := localCA()
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "CA certificate: %s\nSHA-256 fingerprint: %s\n", lc.CAFile, lc.Fingerprint)
			if f := c.String("export"); f != "" {
				if err := os.WriteFile(f, lc.CAPEM, 0o644); err != nil {
					return fmt.Errorf("exporting the CA: %w", err)
				}
				fmt.Fprintf(c.App.Writer, "exported to %s\n", f)
			}
			return nil
		},
	}
}
