package popserver

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

// sampleFS holds the demo maildrop: one RFC 5322 message per .eml file, in name order.
//
//go:embed testdata/mailbox/*.eml
var sampleFS embed.FS

// SampleMailbox returns a dozen realistic messages for demos and tests: plain text,
// multipart/alternative with HTML, a base64 attachment, quoted-printable, RFC 2047 subjects in
// German, Japanese and emoji, lines starting with "." and a line that is just ".", a 1482-octet
// line (longer than RFC 5322's 998, shorter than Python poplib's 2048-octet limit) and a reply
// thread with In-Reply-To. UIDs are the file names without ".eml" and never change. The result
// is a fresh slice with fresh Data on every call.
func SampleMailbox() []Message {
	entries, err := fs.ReadDir(sampleFS, "testdata/mailbox")
	if err != nil {
		panic("popserver: embedded sample mailbox unreadable: " + err.Error())
	}
	msgs := make([]Message, 0, len(entries))
	for _, e := range entries {
		data, err := sampleFS.ReadFile(path.Join("testdata/mailbox", e.Name()))
		if err != nil {
			panic("popserver: embedded sample mailbox unreadable: " + err.Error())
		}
		msgs = append(msgs, Message{UID: strings.TrimSuffix(e.Name(), ".eml"), Data: data})
	}
	return msgs
}
