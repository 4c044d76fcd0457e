package popserver

import (
	"errors"
	"strings"
	"testing"
)

func TestStorePutRejectsBadUIDs(t *testing.T) {
	tests := []struct {
		name string
		msgs []Message
	}{
		{"empty", []Message{{UID: ""}}},
		{"space", []Message{{UID: "a b"}}},
		{"too long", []Message{{UID: strings.Repeat("x", 71)}}},
		{"non-ascii", []Message{{UID: "ü"}}},
		{"duplicate in call", []Message{{UID: "a"}, {UID: "a"}}},
		{"already stored", []Message{{UID: "kept"}}},
	}
	for _, tt := range tests {
		var st Store
		if err := st.Put("u", Message{UID: "kept", Data: []byte("x\r\n")}); err != nil {
			t.Fatal(err)
		}
		if err := st.Put("u", tt.msgs...); !errors.Is(err, errBadUID) {
			t.Errorf("%s: Put = %v, want errBadUID", tt.name, err)
		}
		if got := len(st.Messages("u")); got != 1 {
			t.Errorf("%s: maildrop has %d messages after a rejected Put, want 1", tt.name, got)
		}
	}
}

func TestStoreLeaseCommitAndRelease(t *testing.T) {
	var st Store
	if err := st.Put("u", Message{UID: "1", Data: []byte("a\n")}, Message{UID: "2", Data: []byte("b\n")},
		Message{UID: "3", Data: []byte("c\n")}); err != nil {
		t.Fatal(err)
	}
	l := st.acquire("u")
	if l == nil {
		t.Fatal("first acquire failed")
	}
	if st.acquire("u") != nil {
		t.Fatal("second acquire succeeded while locked")
	}
	l.deleted[1] = true
	l.release()
	if got := uids(st.Messages("u")); got != "1 2 3" {
		t.Fatalf("after release: %s, want nothing removed", got)
	}
	l = st.acquire("u")
	if l == nil {
		t.Fatal("acquire after release failed")
	}
	if err := st.Put("u", Message{UID: "4", Data: []byte("d\n")}); err != nil {
		t.Fatal(err)
	}
	if len(l.msgs) != 3 {
		t.Fatalf("lease sees %d messages, want its login snapshot of 3", len(l.msgs))
	}
	l.deleted[0], l.deleted[2] = true, true
	if n := l.commit(); n != 2 {
		t.Errorf("commit removed %d, want 2", n)
	}
	if got := uids(st.Messages("u")); got != "2 4" {
		t.Errorf("after commit: %s, want 2 4", got)
	}
	if st.acquire("u") == nil {
		t.Error("commit did not unlock")
	}
	if got := string(st.Messages("u")[0].Data); got != "b\r\n" {
		t.Errorf("stored data %q, want CRLF-normalised", got)
	}
}

func uids(msgs []Message) string {
	var s []string
	for _, m := range msgs {
		s = append(s, m.UID)
	}
	return strings.Join(s, " ")
}
