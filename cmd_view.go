package main

import (
	"context"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/logview"
)

// viewCommand renders JSON-lines logs written by serve --log-file.
func viewCommand() *cli.Command {
	return &cli.Command{
		Name:         "view",
		Usage:        "render JSON-lines logs (files, or - for stdin) as a colour transcript or a summary",
		ArgsUsage:    "[FILE...|-]",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep reading files as they grow, like tail -f (Ctrl-C stops)"},
			&cli.StringFlag{Name: "session", Usage: "only this session id"},
			&cli.StringFlag{Name: "user", Usage: "only sessions of this POP3 user (as logged: hashed under --hide-users)"},
			&cli.StringFlag{Name: "client", Usage: "only sessions from this client address (HOST or HOST:PORT)"},
			&cli.StringFlag{Name: "command", Usage: "only events of this command verb (e.g. RETR, DELE)"},
			&cli.BoolFlag{Name: "errors", Usage: "only -ERR replies, errors, anomalies and findings"},
			&cli.StringFlag{Name: "since", Usage: "only events at or after T (RFC 3339, YYYY-MM-DD, or a duration ago such as 15m)"},
			&cli.StringFlag{Name: "until", Usage: "only events at or before T (same forms as --since)"},
			&cli.BoolFlag{Name: "summary", Usage: "one row per session: user, messages retrieved and deleted, whether deletions were committed"},
			&cli.BoolFlag{Name: "findings", Usage: "the conformance findings grouped by rule: how many, the RFC, the first session and its evidence"},
			&cli.BoolFlag{Name: "json", Usage: "write the filtered events (or summaries, or finding groups) as JSON lines"},
			&cli.StringFlag{Name: "pcap", Usage: "write the sessions as a pcapng capture to `OUT` (mode 0600) for Wireshark, instead of the transcript; message content needs a log written with --bodies full"},
			&cli.StringFlag{Name: "color", Value: "auto", EnvVars: []string{"POPWIRE_COLOR"}, Usage: "auto | always | never (auto: only on a terminal; NO_COLOR is honoured)"},
			transcriptFlag(),
		},
		Action: view,
	}
}

func view(c *cli.Context) error {
	colour, err := colorFlag(c, c.App.Writer)
	if err != nil {
		return err
	}
	level, err := transcriptLevel(c)
	if err != nil {
		return err
	}
	if c.Bool("follow") && (c.NArg() == 0 || slices.Contains(c.Args().Slice(), "-")) {
		return usagef("--follow needs files: standard input is read as it arrives anyway")
	}
	if c.Bool("summary") && c.Bool("findings") {
		return usagef("--summary and --findings are two reports: choose one")
	}
	now := time.Now()
	var f logview.Filter
	f.Session, f.User, f.Client, f.Command = c.String("session"), c.String("user"), c.String("client"), c.String("command")
	f.Errors = c.Bool("errors")
	for _, b := range []struct {
		flag string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := c.String(b.flag); s != "" {
			t, err := logview.ParseTimeBound(s, now)
			if err != nil {
				return usagef("--%s: %v", b.flag, err)
			}
			*b.dst = t
		}
	}
	opts := logview.ViewOptions{
		Filter:   f,
		Follow:   c.Bool("follow"),
		Summary:  c.Bool("summary"),
		Findings: c.Bool("findings"),
		JSON:     c.Bool("json"),
		Printer:  logview.PrinterOptions{Color: colour, Location: time.Local, Level: level},
		Stdin:    os.Stdin,
		Warnings: c.App.ErrWriter,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.String("pcap") != "" {
		return viewPcap(ctx, c, opts)
	}
	return logview.View(ctx, opts, c.Args().Slice(), c.App.Writer)
}
