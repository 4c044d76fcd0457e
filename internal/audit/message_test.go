package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

// crlf turns the LF line endings of a readable test literal into CRLF, as on the wire.
func crlf(s string) string {
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// feed writes data to m in pieces of at most chunk bytes and returns m's Result.
func feed(t testing.TB, m *Message, data []byte, chunk int) Result {
	t.Helper()
	for len(data) > 0 {
		n := min(chunk, len(data))
		if got, err := m.Write(data[:n]); got != n || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", n, got, err)
		}
		data = data[n:]
	}
	return m.Result()
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

var multipart = crlf(`Return-Path: <alice@example.org>
Received: from mx.example.org (mx.example.org [192.0.2.1])
	by mail.example.com with ESMTPS id 4f2a
	for <bob@example.com>; Tue, 4 Mar 2025 09:15:02 +0000
From: =?UTF-8?Q?Ren=C3=A9e_M=C3=BCller?= <renee@example.org>
To: Bob <bob@example.com>,
 =?UTF-8?B?w4lsb2TDr2U=?= <elodie@example.com>
Cc: team@example.com
Subject: =?UTF-8?B?UXVhcnRhbHNiZXJpY2h0IPCfk4g=?=
Date: Tue, 4 Mar 2025 10:15:00 +0100
Message-ID: <20250304091500.4f2a@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

Hallo Bob,
Subject: this line is body text, not a header
..a line that was dot-stuffed on the wire
--b1
Content-Type: application/pdf; name="q1.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K
--b1--
`)

func TestMessage(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    Result // Octets, SHA256 and Body are checked apart
	}{
		{
			name:    "multipart with UTF-8 Q and B encoded words and folded To",
			content: multipart,
			want: Result{
				From:      "Renée Müller <renee@example.org>",
				To:        "Bob <bob@example.com>, Élodïe <elodie@example.com>",
				Cc:        "team@example.com",
				Subject:   "Quartalsbericht 📈",
				Date:      "Tue, 4 Mar 2025 10:15:00 +0100",
				MessageID: "<20250304091500.4f2a@example.org>",
			},
		},
		{
			name: "ISO-8859-1 encoded words",
			content: crlf(`From: =?ISO-8859-1?Q?Fran=E7ois_Ch=E2telet?= <fc@example.fr>
Subject: =?iso-8859-1?q?Caf=E9_cr=E8me?=

Bonjour.
`),
			want: Result{From: "François Châtelet <fc@example.fr>", Subject: "Café crème"},
		},
		{
			name: "ISO-2022-JP encoded words",
			content: crlf(`From: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= <test@example.jp>
Subject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=
Content-Type: text/plain; charset=ISO-2022-JP

body
`),
			want: Result{From: "テスト <test@example.jp>", Subject: "日本語"},
		},
		{
			name: "folded subject of adjacent encoded words and a tab-folded plain field",
			content: crlf(`Subject: =?UTF-8?Q?Hello?=
 =?UTF-8?Q?_World?= and
	more
Date: Mon, 3 Mar 2025
  08:00:00 +0000

x
`),
			want: Result{Subject: "Hello World and more", Date: "Mon, 3 Mar 2025 08:00:00 +0000"},
		},
		{
			name:    "missing fields stay empty",
			content: crlf("Date: Sat, 1 Mar 2025 12:00:00 +0000\nX-Mailer: test\n\nbody\n"),
			want:    Result{Date: "Sat, 1 Mar 2025 12:00:00 +0000"},
		},
		{
			name:    "header only, as TOP n 0 returns it",
			content: crlf("From: a@example.com\nSubject: only the header\n\n"),
			want:    Result{From: "a@example.com", Subject: "only the header"},
		},
		{
			name:    "header fields without a separator or a final line ending",
			content: "Subject: no body\r\nFrom: a@example.com",
			want:    Result{From: "a@example.com", Subject: "no body"},
		},
		{
			name:    "body without a header or separator",
			content: crlf("Just some text from a broken server.\nSubject: not a header either\n"),
			want:    Result{Subject: "not a header either", HeaderMalformed: true},
		},
		{
			name:    "mbox From_ line before the header",
			content: crlf("From alice@example.org Thu Jan  1 00:00:00 2025\nSubject: after mbox line\n\nbody\n"),
			want:    Result{Subject: "after mbox line", HeaderMalformed: true},
		},
		{
			name:    "a continuation line first is malformed and skipped",
			content: crlf(" leading continuation\nSubject: kept\n\n"),
			want:    Result{Subject: "kept", HeaderMalformed: true},
		},
		{
			name:    "fields after a few junk lines count",
			content: strings.Repeat("junk\r\n", maxSkipped) + "Subject: late\r\n\r\n",
			want:    Result{Subject: "late", HeaderMalformed: true},
		},
		{
			name:    "parsing gives up after maxSkipped junk lines",
			content: strings.Repeat("junk\r\n", maxSkipped+1) + "Subject: late\r\n\r\n",
			want:    Result{HeaderMalformed: true},
		},
		{
			name:    "LF-only line endings",
			content: "From: a@example.com\nSubject: bare LF\n\nSubject: body\n",
			want:    Result{From: "a@example.com", Subject: "bare LF"},
		},
		{
			name:    "the first of repeated fields counts",
			content: crlf("Subject: first\nSubject: second\n\n"),
			want:    Result{Subject: "first"},
		},
		{
			name:    "an unknown charset keeps the word as sent",
			content: crlf("Subject: =?x-no-such-charset?Q?abc?=\n\n"),
			want:    Result{Subject: "=?x-no-such-charset?Q?abc?="},
		},
		{
			name:    "controls, raw 8-bit and bidi overrides are neutralised",
			content: "Subject: a\x1b[31mred\x07\tcaf\xe9 \u202egnp.exe\r\n\r\n",
			want:    Result{Subject: "a\uFFFD[31mred\uFFFD caf\uFFFD \uFFFDgnp.exe"},
		},
		{
			name:    "raw UTF-8 header (RFC 6532) passes",
			content: crlf("Subject: Grüße aus Köln\n\n"),
			want:    Result{Subject: "Grüße aus Köln"},
		},
		{
			name:    "an empty first line means no header at all",
			content: crlf("\nSubject: in the body\n"),
			want:    Result{},
		},
		{
			name:    "empty content",
			content: "",
			want:    Result{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.content)
			want := tt.want
			want.Octets = int64(len(data))
			want.SHA256 = sha256Hex(data)
			for _, chunk := range []int{len(data) + 1, 1, 2, 7, 4096} {
				var m Message
				if got := feed(t, &m, data, chunk); !reflect.DeepEqual(got, want) {
					t.Errorf("chunk %d:\n got %+v\nwant %+v", chunk, got, want)
				}
			}
		})
	}
}

// headerOf builds a header block of exactly size bytes (blank line included) whose first field
// is Subject: first and whose other fields are padding.
func headerOf(size int) []byte {
	b := []byte("Subject: first\r\n")
	for len(b)+len("X-Pad: \r\n\r\n") < size {
		line := "X-Pad: " + strings.Repeat("p", min(70, size-len(b)-len("X-Pad: \r\n\r\n"))) + "\r\n"
		b = append(b, line...)
	}
	return append(b, "\r\n"...)
}

func TestMessageHeaderCap(t *testing.T) {
	tests := []struct {
		name          string
		content       []byte
		wantTruncated bool
		wantSubject   string
		wantFrom      string
	}{
		{
			name:        "a header block of exactly MaxHeader bytes is whole",
			content:     append(headerOf(MaxHeader), "From: in the body\r\n"...),
			wantSubject: "first",
		},
		{
			name:          "one byte more is truncated",
			content:       append(headerOf(MaxHeader+1), "body\r\n"...),
			wantTruncated: true,
			wantSubject:   "first",
		},
		{
			name: "a field cut by the cap is dropped, earlier ones kept",
			content: []byte(crlf("Subject: first\nX-Big: " + strings.Repeat("b", MaxHeader) +
				"\nFrom: too late\n\nbody\n")),
			wantTruncated: true,
			wantSubject:   "first",
		},
		{
			name:          "a body without separator longer than the cap",
			content:       bytes.Repeat([]byte("From: x\r\n"), MaxHeader/4),
			wantTruncated: true,
			wantFrom:      "x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{len(tt.content), 1, 1000} {
				var m Message
				got := feed(t, &m, tt.content, chunk)
				if got.HeaderTruncated != tt.wantTruncated || got.Subject != tt.wantSubject ||
					got.From != tt.wantFrom || got.HeaderMalformed {
					t.Errorf("chunk %d: truncated %v, subject %q, from %q, malformed %v; want %v, %q, %q, false",
						chunk, got.HeaderTruncated, got.Subject, got.From, got.HeaderMalformed,
						tt.wantTruncated, tt.wantSubject, tt.wantFrom)
				}
				if got.Octets != int64(len(tt.content)) || got.SHA256 != sha256Hex(tt.content) {
					t.Errorf("chunk %d: octets %d sha %s; want %d %s", chunk, got.Octets, got.SHA256,
						len(tt.content), sha256Hex(tt.content))
				}
				if len(m.header) > MaxHeader {
					t.Errorf("chunk %d: kept %d header bytes, cap is %d", chunk, len(m.header), MaxHeader)
				}
			}
		})
	}
}

func TestMessageKeepBody(t *testing.T) {
	content := []byte(multipart)
	tests := []struct {
		name     string
		keep     bool
		max      int64
		wantBody []byte
		wantCut  bool
	}{
		{name: "not kept", keep: false, wantBody: nil},
		{name: "kept whole under the default limit", keep: true, wantBody: content},
		{name: "kept whole at exactly the limit", keep: true, max: int64(len(content)), wantBody: content},
		{name: "cut at the limit", keep: true, max: 100, wantBody: content[:100], wantCut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{len(content), 1, 33} {
				m := Message{KeepBody: tt.keep, MaxBody: tt.max}
				got := feed(t, &m, content, chunk)
				if got.Body.String() != string(tt.wantBody) || got.BodyTruncated != tt.wantCut {
					t.Errorf("chunk %d: body %d bytes, cut %v; want %d bytes, cut %v",
						chunk, got.Body.Len(), got.BodyTruncated, len(tt.wantBody), tt.wantCut)
				}
				if got.Subject != "Quartalsbericht 📈" {
					t.Errorf("chunk %d: subject %q", chunk, got.Subject)
				}
			}
		})
	}
}

func TestMessageReset(t *testing.T) {
	first := []byte(crlf("Subject: one\nFrom: a@example.com\n\nfirst body\n"))
	second := []byte(crlf("Subject: two\n\nsecond body, longer than the first one\n"))

	m := Message{KeepBody: true}
	r1 := feed(t, &m, first, 5)
	m.Reset()
	r2 := feed(t, &m, second, 3)

	var fresh Message
	fresh.KeepBody = true
	want2 := feed(t, &fresh, second, len(second))
	if !reflect.DeepEqual(r2, want2) {
		t.Errorf("after Reset:\n got %+v\nwant %+v", r2, want2)
	}
	if r1.Body.String() != string(first) || r1.Subject != "one" || r1.SHA256 != sha256Hex(first) {
		t.Errorf("first result changed after Reset: %+v", r1)
	}
	if again := m.Result(); !reflect.DeepEqual(again, r2) {
		t.Errorf("second Result call differs:\n got %+v\nwant %+v", again, r2)
	}
}

func TestMessageAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(10, func() {
		var m Message
		m.Reset()
		if _, err := m.Write(nil); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("zero Message before content: %v allocations, want 0", n)
	}

	var m Message
	if _, err := m.Write([]byte(multipart)); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("body line of a large attachment\r\n"), 500)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := m.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Write after the header: %v allocations, want 0", n)
	}
}

func TestMessageKeepsOnlyHeader(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    int // bytes of header kept
	}{
		{name: "CRLF", content: multipart, want: strings.Index(multipart, "\r\n\r\n") + 4},
		{name: "LF", content: "A: b\nC: d\n\nbody\n\nmore\n", want: len("A: b\nC: d\n\n")},
		{name: "LF then CRLF blank line", content: "A: b\n\r\nbody\n", want: len("A: b\n\r\n")},
		{name: "blank first line", content: "\r\nbody\r\n", want: 2},
		{name: "CR inside a line is no line end", content: "A: b\r\r\nC: d\r\n\r\nbody", want: len("A: b\r\r\nC: d\r\n\r\n")},
		{name: "no separator", content: "A: b\r\nC: d\r\n", want: len("A: b\r\nC: d\r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{len(tt.content), 1, 3} {
				var m Message
				feed(t, &m, []byte(tt.content), chunk)
				if len(m.header) != tt.want {
					t.Errorf("chunk %d: kept %d header bytes %q, want %d", chunk, len(m.header), m.header, tt.want)
				}
			}
		})
	}
}
