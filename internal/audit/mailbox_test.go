package audit

import (
	"slices"
	"testing"
)

// TestMailboxCommit follows the deletions of sessions: what DELE marks, RSET undoes and a +OK
// to QUIT commits, from TRANSACTION only (RFC 1939 §6).
func TestMailboxCommit(t *testing.T) {
	tests := []struct {
		name      string
		run       func(m *Mailbox)
		deleted   []string
		committed bool
	}{
		{"nothing", func(m *Mailbox) {}, nil, false},
		{"DELE without QUIT", func(m *Mailbox) { m.Delete(1) }, []string{"#1"}, false},
		{"DELE, DELE, QUIT", func(m *Mailbox) { m.Delete(1); m.Delete(3); m.Quit(true) }, []string{"#1", "#3"}, true},
		{"QUIT alone", func(m *Mailbox) { m.Quit(true) }, nil, true},
		{"RSET undoes the marks", func(m *Mailbox) { m.Delete(1); m.Reset(); m.Delete(2); m.Quit(true) }, []string{"#2"}, true},
		{"RSET undoes all", func(m *Mailbox) { m.Delete(1); m.Delete(2); m.Reset(); m.Quit(true) }, nil, true},
		{"QUIT in AUTHORIZATION", func(m *Mailbox) { m.Quit(false) }, nil, false},
	}
	for _, tt := range tests {
		var m Mailbox
		tt.run(&m)
		if got := m.Deleted(); !slices.Equal(got, tt.deleted) || m.Committed() != tt.committed {
			t.Errorf("%s: deleted %q, committed %v; want %q, %v", tt.name, got, m.Committed(), tt.deleted, tt.committed)
		}
	}
}

// TestMailboxNames checks that messages are named by the UID a UIDL reply gave them, else by
// number, in the retrieved and the deleted lists alike.
func TestMailboxNames(t *testing.T) {
	var m Mailbox
	m.LearnUID([]byte("1 uid-one"))
	m.LearnUID([]byte("+OK not a UIDL line"))
	m.Retrieve(1)
	m.Retrieve(2)
	m.Delete(1)
	m.Delete(2)
	if m.UID(1) != "uid-one" || m.UID(2) != "" {
		t.Errorf("UIDs = %q, %q", m.UID(1), m.UID(2))
	}
	want := []string{"uid-one", "#2"}
	if !slices.Equal(m.Retrieved(), want) || !slices.Equal(m.Deleted(), want) {
		t.Errorf("retrieved %q, deleted %q; want %q for both", m.Retrieved(), m.Deleted(), want)
	}
}

// TestMailboxListsAreTheCallers checks that changing a returned list changes nothing in the
// Mailbox, and that the Mailbox changing later does not change a list returned before.
func TestMailboxListsAreTheCallers(t *testing.T) {
	var m Mailbox
	m.Delete(1)
	m.Delete(2)
	m.Retrieve(1)
	deleted, retrieved := m.Deleted(), m.Retrieved()
	deleted[0], retrieved[0] = "x", "x"
	if m.Deleted()[0] != "#1" || m.Retrieved()[0] != "#1" {
		t.Fatalf("changing a returned list changed the Mailbox: %q %q", m.Deleted(), m.Retrieved())
	}
	deleted = m.Deleted()
	m.Reset()
	m.Delete(3)
	if !slices.Equal(deleted, []string{"#1", "#2"}) {
		t.Errorf("a list returned before RSET and DELE became %q", deleted)
	}
}
