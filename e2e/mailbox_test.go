package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
)

// message is one stored mail of the test mailbox.
type message struct {
	Name    string
	Subject string
	Data    []byte // the bytes stored in the Maildir file
	// HeaderOnly is true for a message without a body, after which fetchmail adds a blank line.
	HeaderOnly bool
}

// served returns what a POP3 server conforming to RFC 1939 §3 delivers for m once the client
// has removed the dot-stuffing and the terminating line: every bare LF becomes CRLF and a
// missing final line ending is added (Dovecot does both).
func (m message) served() []byte {
	var b bytes.Buffer
	b.Grow(len(m.Data) + len(m.Data)/32 + 2)
	for i, c := range m.Data {
		if c == '\n' && (i == 0 || m.Data[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(c)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// header builds a CRLF header block (without the blank separator line).
func header(n int, subject string, extra ...string) string {
	lines := []string{
		"Return-Path: <sender@example.org>",
		"From: \"Sender " + fmt.Sprint(n) + "\" <sender@example.org>",
		"To: Alice <alice@example.net>",
		"Subject: " + subject,
		fmt.Sprintf("Date: Mon, 3 Jun 2024 10:%02d:00 +0000", n),
		fmt.Sprintf("Message-ID: <e2e-%d@popwire.test>", n),
		"MIME-Version: 1.0",
	}
	lines = append(lines, extra...)
	return strings.Join(lines, "\r\n") + "\r\n"
}

// fullMailbox returns the realistic and hostile messages, generated deterministically.
func fullMailbox() []message {
	rng := rand.New(rand.NewPCG(1, 2))
	msgs := []message{
		{Name: "plain", Subject: "Plain text"},
		{Name: "mime", Subject: "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("Grüße aus Köln — MIME")) + "?="},
		{Name: "8bit", Subject: "Eight bit body"},
		{Name: "dots", Subject: "Lines of dots"},
		{Name: "longline", Subject: "A 200 KB line"},
		{Name: "nofinal", Subject: "No final newline"},
		{Name: "lf", Subject: "Stored with bare LF"},
		{Name: "headeronly", Subject: "Header only", HeaderOnly: true},
		{Name: "controls", Subject: "Control bytes"},
		{Name: "big", Subject: "Twenty megabytes"},
	}
	for i := range msgs {
		m := &msgs[i]
		n := i + 1
		switch m.Name {
		case "plain":
			m.Data = []byte(header(n, m.Subject, "Content-Type: text/plain; charset=us-ascii") +
				"\r\nHello Alice,\r\n\r\nthis is a plain message.\r\n\r\n-- \r\nSender\r\n")
		case "mime":
			attach := make([]byte, 3000)
			for j := range attach {
				attach[j] = byte(rng.IntN(256))
			}
			enc := base64.StdEncoding.EncodeToString(attach)
			var body strings.Builder
			for len(enc) > 76 {
				body.WriteString(enc[:76] + "\r\n")
				enc = enc[76:]
			}
			body.WriteString(enc + "\r\n")
			m.Data = []byte(header(n, m.Subject, `Content-Type: multipart/mixed; boundary="outer"`) +
				"\r\nThis is a multi-part message in MIME format.\r\n" +
				"--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n" +
				"--inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				"Gr=C3=BC=C3=9Fe, a soft line=\r\n break.\r\n" +
				"--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Gr&uuml;&szlig;e</p>\r\n" +
				"--inner--\r\n" +
				"--outer\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n" +
				"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n\r\n" +
				body.String() + "--outer--\r\n")
		case "8bit":
			m.Data = []byte(header(n, m.Subject, "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit") +
				"\r\nÄrger über Öl, 東京, Ελληνικά, emoji 📬.\r\n" +
				"Latin-1 bytes: \xe9\xe8\xff\xfe\r\n")
		case "dots":
			m.Data = []byte(header(n, m.Subject, "Content-Type: text/plain") +
				"\r\n.starts the body with a dot\r\n\r\n.\r\n..\r\n...\r\n.hidden\r\n. space\r\n" +
				"a line\r\n.\r\n.\r\nnot the end\r\n.\r\n")
		case "longline":
			line := make([]byte, 200*1024)
			for j := range line {
				line[j] = 'a' + byte(rng.IntN(26))
			}
			m.Data = []byte(header(n, m.Subject, "Content-Type: text/plain") + "\r\n" + string(line) + "\r\nshort tail\r\n")
		case "nofinal":
			m.Data = []byte(header(n, m.Subject, "Content-Type: text/plain") + "\r\nthe last line has no newline and ends in a dot\r\n.")
		case "lf":
			m.Data = []byte(strings.ReplaceAll(header(n, m.Subject, "Content-Type: text/plain"), "\r\n", "\n") +
				"\nstored with bare LF line endings\n.\n.. two dots\nend\n")
		case "headeronly":
			m.Data = []byte(header(n, m.Subject))
		case "controls":
			m.Data = []byte(header(n, m.Subject, "Content-Type: application/octet-stream") +
				"\r\nNUL:\x00: bare CR:\r: tab:\t: escape:\x1b[31m: DEL:\x7f:\r\n\x00\x00\r\n")
		case "big":
			m.Data = bigMessage(header(n, m.Subject, "Content-Type: text/plain"), 20<<20, rng)
		}
	}
	return msgs
}

// smallMailbox returns a few plain messages for tests that delete mail.
func smallMailbox() []message {
	var msgs []message
	for i := 1; i <= 3; i++ {
		subject := fmt.Sprintf("Small message %d", i)
		msgs = append(msgs, message{
			Name:    fmt.Sprintf("small%d", i),
			Subject: subject,
			Data: []byte(header(100+i, subject, "Content-Type: text/plain") +
				fmt.Sprintf("\r\nbody of small message %d\r\n.\r\n", i)),
		})
	}
	return msgs
}

// bigMessage returns a message of at least size bytes: the header, then 76-character lines
// drawn from rng.
func bigMessage(hdr string, size int, rng *rand.Rand) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, 0, size+80)
	b = append(b, hdr...)
	b = append(b, "\r\n"...)
	for len(b) < size {
		for j := 0; j < 76; j++ {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		b = append(b, "\r\n"...)
	}
	return b
}
