package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/config"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:         "config",
		Usage:        "check a configuration file (serve --config FILE), or print a commented example",
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			return usagef("config needs a subcommand: check FILE, or example")
		},
		Subcommands: []*cli.Command{
			{
				Name:         "check",
				Usage:        "check FILE as serve --config would, opening nothing (no listener, certificate or connection); errors name the line",
				ArgsUsage:    "FILE",
				OnUsageError: onUsageError,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("config check takes one FILE (got %d arguments)", c.NArg())
					}
					if _, err := loadConfig(c.Args().First()); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "%s: ok\n", c.Args().First())
					return nil
				},
			},
			{
				Name:         "example",
				Usage:        "print a commented example configuration (two routes) on stdout",
				OnUsageError: onUsageError,
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usagef("config example takes no arguments (got %q)", c.Args().First())
					}
					_, err := fmt.Fprint(c.App.Writer, config.Example())
					return err
				},
			},
		},
	}
}
