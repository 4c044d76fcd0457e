package main

import (
	"flag"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestSkipReplyLines checks when the recorder is told to collect no reply lines: only when no
// output shows them, that is a summary transcript and no JSON anywhere.
func TestSkipReplyLines(t *testing.T) {
	tests := []struct {
		args []string
		skip bool
	}{
		{nil, false},
		{[]string{"--transcript", "full"}, false},
		{[]string{"--transcript", "summary"}, true},
		{[]string{"--transcript", "summary", "--log-file", "x.jsonl"}, false},
		{[]string{"--transcript", "summary", "--log-format", "json"}, false},
		{[]string{"--transcript", "summary", "--pcap", "x.pcapng"}, false},
	}
	for _, tt := range tests {
		set := flag.NewFlagSet("serve", flag.ContinueOnError)
		for _, f := range logFlags() {
			if err := f.Apply(set); err != nil {
				t.Fatal(err)
			}
		}
		if err := set.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		opts, err := logOptions(cli.NewContext(cli.NewApp(), set, nil))
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if opts.SkipReplyLines != tt.skip {
			t.Errorf("%v: SkipReplyLines %v, want %v", tt.args, opts.SkipReplyLines, tt.skip)
		}
	}
}
