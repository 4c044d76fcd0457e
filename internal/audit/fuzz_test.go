package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"
)

// FuzzMessage checks that no content makes Message panic, that the digest and octet count match
// crypto/sha256 over the same bytes, and that the result does not depend on how the content is
// split across Write calls.
func FuzzMessage(f *testing.F) {
	f.Add([]byte(multipart), uint8(5))
	f.Add([]byte(crlf("Subject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=\n\n")), uint8(1))
	f.Add([]byte("From x Thu\n Subject: y\r\n\r"), uint8(2))
	f.Add([]byte("Subject: =?utf-8?q?a?= =?bogus?b?@@?=\n"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		const maxBody = 64
		whole := Message{KeepBody: true, MaxBody: maxBody}
		want := feed(t, &whole, data, len(data)+1)

		sum := sha256.Sum256(data)
		if want.Octets != int64(len(data)) || want.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("octets %d sha %s, want %d %x", want.Octets, want.SHA256, len(data), sum)
		}
		if kept := data[:min(len(data), maxBody)]; want.Body.String() != string(kept) ||
			want.BodyTruncated != (len(data) > maxBody) {
			t.Fatalf("body %q cut %v, want %q", want.Body, want.BodyTruncated, kept)
		}
		wantBody := want.Body.String()
		want.Body = Kept{}
		for _, chunk := range []int{1, int(split)%17 + 1} {
			m := Message{KeepBody: true, MaxBody: maxBody}
			got := feed(t, &m, data, chunk)
			if got.Body.String() != wantBody {
				t.Fatalf("chunk %d: body %q, want %q", chunk, got.Body.String(), wantBody)
			}
			if got.Body = (Kept{}); !reflect.DeepEqual(got, want) {
				t.Fatalf("chunk %d:\n got %+v\nwant %+v", chunk, got, want)
			}
		}
	})
}
