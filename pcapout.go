package main

import (
	"io"

	"github.com/urfave/cli/v2"

	"github.com/popwire/popwire/logview"
	"github.com/popwire/popwire/pcapng"
	"github.com/popwire/popwire/proxy"
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
	if c.String("pcap") == "" || sink == nil || c.String("bodies") == proxy.BodiesFull {
		return
	}
	// A failing sink reports itself.
	_ = sink.Emit(logview.Stamp(logview.Event{Kind: logview.KindWarning,
		Text: "--pcap without --bodies full: the log holds no message content, so each RETR and TOP message is a segment not captured in " + c.String("pcap")}))
}
