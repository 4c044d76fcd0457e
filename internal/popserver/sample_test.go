package popserver

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"
)

func TestSampleMailbox(t *testing.T) {
	msgs := SampleMailbox()
	if len(msgs) != 12 {
		t.Fatalf("%d sample messages, want 12", len(msgs))
	}
	var st Store
	if err := st.Put("u", msgs...); err != nil {
		t.Fatalf("sample UIDs rejected: %v", err)
	}
	subjects := map[string]string{}
	var all bytes.Buffer
	for _, m := range msgs {
		r, err := mail.CreateReader(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatalf("%s: %v", m.UID, err)
		}
		subj, err := r.Header.Subject()
		if err != nil {
			t.Errorf("%s: subject: %v", m.UID, err)
		}
		subjects[m.UID] = subj
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: part: %v", m.UID, err)
			}
			if _, err := io.ReadAll(p.Body); err != nil {
				t.Errorf("%s: body: %v", m.UID, err)
			}
		}
		all.Write(m.Data)
	}
	for uid, want := range map[string]string{
		"04-quoted-printable": "Grüße aus München",
		"05-japanese":         "会議の議事録",
		"06-emoji":            "🎉",
		"10-thread-reply":     "Re: Offsite planning",
	} {
		if !strings.Contains(subjects[uid], want) {
			t.Errorf("%s: decoded subject %q lacks %q", uid, subjects[uid], want)
		}
	}
	for _, feature := range []string{
		"multipart/alternative", "text/html", "Content-Disposition: attachment", "Content-Transfer-Encoding: base64",
		"Content-Transfer-Encoding: quoted-printable", "In-Reply-To: <offsite-1@example.com>",
		"\r\n.profile", "\r\n.\r\n",
	} {
		if !strings.Contains(all.String(), feature) {
			t.Errorf("sample mailbox lacks %q", feature)
		}
	}
	longest := 0
	for _, l := range strings.Split(all.String(), "\r\n") {
		longest = max(longest, len(l))
	}
	if longest <= 998 || longest >= 2048 {
		t.Errorf("longest line is %d octets, want between RFC 5322's 998 and poplib's 2048", longest)
	}
	if !bytes.Equal(SampleMailbox()[0].Data, msgs[0].Data) || SampleMailbox()[0].UID != "01-welcome" {
		t.Error("SampleMailbox is not stable")
	}
}
