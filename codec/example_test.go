package codec_test

import (
	"fmt"

	"github.com/popwire/popwire/codec"
)

// A command line is split into its keyword (upper case) and its argument; a line a lenient
// server could read as another command is refused.
func ExampleParseCommand() {
	for _, line := range []string{"retr 1\r\n", "UIDL\r\n", " DELE 1\r\n"} {
		c, err := codec.ParseCommand([]byte(line))
		if err != nil {
			fmt.Printf("%q: error\n", line)
			continue
		}
		fmt.Printf("%q: verb %s, arg %q\n", line, c.Verb, c.Arg)
	}
	// Output:
	// "retr 1\r\n": verb RETR, arg "1"
	// "UIDL\r\n": verb UIDL, arg ""
	// " DELE 1\r\n": error
}

// A status line carries the status, the RFC 2449 response code and the text; a greeting's
// APOP timestamp is picked out.
func ExampleParseReply() {
	for _, line := range []string{
		"+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n",
		"-ERR [IN-USE] mailbox locked\r\n",
		"+ \r\n",
	} {
		r, err := codec.ParseReply([]byte(line))
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Printf("%s code=%q text=%q timestamp=%q\n", r.Status, r.Code, r.Text, r.Timestamp)
	}
	// Output:
	// +OK code="" text="POP3 ready <1896.697170952@dbc.mtview.ca.us>" timestamp="<1896.697170952@dbc.mtview.ca.us>"
	// -ERR code="IN-USE" text="mailbox locked" timestamp=""
	// + code="" text="" timestamp=""
}

// A Tracker follows a whole session in wire order: each chunk of bytes from either side
// yields the frames it completes. Secret-bearing lines come with an Auth whose Safe rendering
// is what may be logged. A finding names the rule a side broke: here the server's "+OK 12
// octets" announces two octets more than the message it delivers.
func ExampleTracker() {
	var t codec.Tracker
	show := func(frames []codec.Frame) {
		for _, f := range frames {
			switch {
			case f.Rule != 0:
				fmt.Printf("%s finding %s (%s): %s\n", f.Dir, f.Rule, f.Rule.RFC(), f.Note)
			case f.Auth != nil:
				fmt.Printf("%s %s: %s\n", f.Dir, f.Kind, f.Auth.Safe)
			case f.Kind == codec.FrameCommand:
				fmt.Printf("%s %s: %s\n", f.Dir, f.Kind, f.Cmd)
			case f.Kind == codec.FrameReply:
				fmt.Printf("%s %s to %s: %s (multi-line %v)\n", f.Dir, f.Kind, f.Cmd.Verb, f.Reply.Status, f.Multi)
			case f.Kind == codec.FrameBodyEnd:
				fmt.Printf("%s %s: %d lines, %d octets\n", f.Dir, f.Kind, f.Lines, f.Octets)
			default:
				fmt.Printf("%s %s\n", f.Dir, f.Kind)
			}
		}
	}
	show(t.Server([]byte("+OK ready\r\n")))
	show(t.Client([]byte("USER alice\r\nPASS s3cret\r\n")))
	show(t.Server([]byte("+OK\r\n+OK logged in\r\n")))
	show(t.Client([]byte("RETR 1\r\n")))
	show(t.Server([]byte("+OK 12 octets\r\nHi\r\n..dot\r\n.\r\n")))
	fmt.Println("state:", t.State())
	// Output:
	// server greeting
	// client command: USER alice
	// client command: PASS [redacted]
	// server reply to USER: +OK (multi-line false)
	// server reply to PASS: +OK (multi-line false)
	// client command: RETR 1
	// server reply to RETR: +OK (multi-line true)
	// server body-end: 2 lines, 11 octets
	// server finding size-mismatch (RFC 1939 §5, §11): RETR 1 delivered 10 octets (line ends counted as CRLF, dot-stuffing removed); +OK said 12
	// state: TRANSACTION
}
