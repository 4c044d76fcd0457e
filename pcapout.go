package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/pcapng"
	"github.com/popwire/popwire/internal/proxy"
)

// pcapFile returns the opener of serve's --pcap file: a FileSink (created with mode 0600,
// appended to; each file, and each reopened one, a pcapng section of its own) that writes the
// events as a capture, saying as the logging flags have it what was redacted.
func pcapFile(c *cli.Context) func(path string, report io.Writer) (*logview.FileSink, error) {
	opts := pcapng.Options{Application: "popwire " + versionString(), Credentials: pcapng.CredentialsRedacted, HideUsers: c.Bool("hide-users")}
	if c.Bool("reveal-credentials") {
		opts.Credentials = pcapng.CredentialsRevealed
	}
	return func(path string, report io.Writer) (*logview.FileSink, error) {
		return logview.OpenFileEncoder(path, report, pcapng.NewEncoder(opts))
	}
}

// warnPcap says at start, on sink, what --pcap leaves out without --bodies full.
func warnPcap(c *cli.Context, sink logview.Sink) {
	if c.String("pcap") == "" || sink == nil || proxy.Bodies(c.String("bodies")) == proxy.BodiesFull {
		return
	}
	// A failing sink reports itself.
	_ = sink.Emit(logview.Stamp(logview.Event{Kind: logview.KindWarning,
		Text: "--pcap without --bodies full: the log holds no message content, so each RETR and TOP message is a segment not captured in " + c.String("pcap")}))
}

// viewPcap runs view --pcap: the sessions of the logs that opts selects, written to OUT as a
// capture. Only whole sessions can be written: the filters that keep single events, and the
// other outputs, are refused. What the log lacks for a complete capture is said on stderr.
func viewPcap(ctx context.Context, c *cli.Context, opts logview.ViewOptions) error {
	for _, flag := range []string{"follow", "summary", "json", "command", "errors"} {
		if c.IsSet(flag) {
			return usagef("--pcap writes whole sessions: it does not go with --%s", flag)
		}
	}
	out := c.String("pcap")
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("view --pcap: %w", err)
	}
	defer f.Close() // a write error is caught by Flush and Sync below
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("view --pcap: %w", err)
		}
		fmt.Fprintf(c.App.ErrWriter, "popwire: %s had mode %04o; it is now 0600, since the capture holds mail\n", out, fi.Mode().Perm())
	}
	buf := bufio.NewWriterSize(f, 256<<10)
	w, err := pcapng.NewWriter(buf, pcapng.Options{Application: "popwire " + versionString(), Credentials: pcapng.CredentialsAsLogged})
	if err != nil {
		return err
	}
	opts.Sink = w
	if err := logview.View(ctx, opts, c.Args().Slice(), c.App.Writer); err != nil {
		return err
	}
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("view --pcap: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("view --pcap: %w", err)
	}
	st := w.Stats()
	fmt.Fprintf(c.App.ErrWriter, "popwire: wrote %d sessions to %s\n", st.Sessions, out)
	if st.Skipped > 0 {
		fmt.Fprintf(c.App.ErrWriter, "popwire: left out %d events of sessions whose open event is not in the log\n", st.Skipped)
	}
	if st.NoContent > 0 {
		fmt.Fprintf(c.App.ErrWriter, "popwire: %d messages have no content in the log (it was written without --bodies full): each is a segment not captured\n", st.NoContent)
	}
	return nil
}
