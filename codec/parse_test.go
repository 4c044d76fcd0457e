package codec

import (
	"errors"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in      string
		want    Command
		wantErr bool
	}{
		{"NOOP\r\n", Command{Verb: "NOOP"}, false},
		{"noop", Command{Verb: "NOOP"}, false},
		{"LIST \r\n", Command{Verb: "LIST"}, false},
		{"LIST 1\r\n", Command{Verb: "LIST", Arg: "1"}, false},
		{"list  2 \t\n", Command{Verb: "LIST", Arg: "2"}, false},
		{"TOP 1 0\r\n", Command{Verb: "TOP", Arg: "1 0"}, false},
		{"AUTH\tPLAIN\r\n", Command{Verb: "AUTH", Arg: "PLAIN"}, false},
		{"PASS two  words \r\n", Command{Verb: "PASS", Arg: "two  words"}, false},
		{"xclient ADDR=1.2.3.4\r\n", Command{Verb: "XCLIENT", Arg: "ADDR=1.2.3.4"}, false},
		{"XSTATS2 1\r\n", Command{Verb: "XSTATS2", Arg: "1"}, false},
		{"NOOP \xe9\x01\r\n", Command{Verb: "NOOP", Arg: "\xe9\x01"}, false}, // UTF8 arguments (RFC 6856)
		// A server that splits lines at a bare CR, drops NULs or trims more blanks could read
		// each of these as another command: none is a command line.
		{"NOOP x\r", Command{}, true},
		{"NOOP\rDELE 1\r\n", Command{}, true},
		{"NOOP x\rDELE 1\r\n", Command{}, true},
		{"NOOP x\r\r\n", Command{}, true},
		{"NOOP \x00\r\n", Command{}, true},
		{"\r\n", Command{}, true},
		{"", Command{}, true},
		{" NOOP\r\n", Command{}, true},
		{"\tDELE 1\r\n", Command{}, true},
		{"  dele\t1\r\n", Command{}, true},
		{"\vDELE 1\r\n", Command{}, true},
		{"DELE\v1\r\n", Command{}, true},
		{"DELE\f\r\n", Command{}, true},
		{"NO\x00OP\r\n", Command{}, true},
		{"N\xe9OP\r\n", Command{}, true},
		{"DE-LE 1\r\n", Command{}, true},
		{"*\r\n", Command{}, true},
		{"NOOP\nSTAT\n", Command{}, true},
	}
	for _, tt := range tests {
		got, err := ParseCommand([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseCommand(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseCommand(%q) error %v does not wrap ErrSyntax", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("ParseCommand(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestCommandHasArg(t *testing.T) {
	for in, want := range map[string]bool{"LIST\r\n": false, "LIST \r\n": false, "LIST 1\r\n": true, "AUTH \t \r\n": false} {
		c, err := ParseCommand([]byte(in))
		if err != nil || c.HasArg() != want {
			t.Errorf("ParseCommand(%q).HasArg() = %v (err %v), want %v", in, c.HasArg(), err, want)
		}
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		in      string
		want    Reply
		wantErr bool
	}{
		{"+OK\r\n", Reply{Status: StatusOK}, false},
		{"+OK \r\n", Reply{Status: StatusOK}, false},
		{"+OK hi\r\n", Reply{Status: StatusOK, Text: "hi"}, false},
		{"+ok hi\n", Reply{Status: StatusOK, Text: "hi"}, false},
		{"-ERR\r\n", Reply{Status: StatusErr}, false},
		{"-ERR [IN-USE] Mailbox is locked\r\n", Reply{Status: StatusErr, Code: "IN-USE", Text: "Mailbox is locked"}, false},
		{"-ERR [SYS/TEMP] try later\r\n", Reply{Status: StatusErr, Code: "SYS/TEMP", Text: "try later"}, false},
		{"-ERR [AUTH] Authentication failed.\r\n", Reply{Status: StatusErr, Code: "AUTH", Text: "Authentication failed."}, false},
		{"-ERR [SYS/TEMP/X-NEW] hier\r\n", Reply{Status: StatusErr, Code: "SYS/TEMP/X-NEW", Text: "hier"}, false},
		{"-ERR [X-UNKNOWN]\r\n", Reply{Status: StatusErr, Code: "X-UNKNOWN"}, false},
		{"-ERR [] x\r\n", Reply{Status: StatusErr, Text: "[] x"}, false},
		{"-ERR [unclosed x\r\n", Reply{Status: StatusErr, Text: "[unclosed x"}, false},
		{"+ \r\n", Reply{Status: StatusContinue}, false},
		{"+\r\n", Reply{Status: StatusContinue}, false},
		{"+ VXNlcm5hbWU6\r\n", Reply{Status: StatusContinue, Text: "VXNlcm5hbWU6"}, false},
		{"+ OK\r\n", Reply{Status: StatusContinue, Text: "OK"}, false},
		{"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n",
			Reply{Status: StatusOK, Text: "POP3 server ready <1896.697170952@dbc.mtview.ca.us>", Timestamp: "<1896.697170952@dbc.mtview.ca.us>"}, false},
		{"+OK [XCLIENT] Dovecot ready. <1.2@h>\r\n", Reply{Status: StatusOK, Code: "XCLIENT", Text: "Dovecot ready. <1.2@h>", Timestamp: "<1.2@h>"}, false},
		{"+OK <not a stamp> <a@b>\r\n", Reply{Status: StatusOK, Text: "<not a stamp> <a@b>", Timestamp: "<a@b>"}, false},
		{"-ERR <a@b>\r\n", Reply{Status: StatusErr, Text: "<a@b>"}, false},
		{"+OKAY\r\n", Reply{}, true},
		{"+\tx\r\n", Reply{}, true},
		{"* OK IMAP\r\n", Reply{}, true},
		{"\r\n", Reply{}, true},
		{"-ER\r\n", Reply{}, true},
		{"+OK a\nb\n", Reply{}, true},
	}
	for _, tt := range tests {
		got, err := ParseReply([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseReply(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseReply(%q) error %v does not wrap ErrSyntax", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("ParseReply(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, in := range []string{"+OK", "+OK [A/B] x", "-ERR y", "+ abc", "+ ", "-ERR [X]"} {
		r, err := ParseReply([]byte(in))
		if err != nil || r.String() != in {
			t.Errorf("ParseReply(%q).String() = %q (err %v)", in, r.String(), err)
		}
	}
	for _, in := range []string{"NOOP", "TOP 1 0", "AUTH PLAIN ="} {
		c, err := ParseCommand([]byte(in))
		if err != nil || c.String() != in {
			t.Errorf("ParseCommand(%q).String() = %q (err %v)", in, c.String(), err)
		}
	}
}
