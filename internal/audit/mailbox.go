package audit

import (
	"slices"
	"strconv"
)

// Mailbox follows what a session does to its maildrop (RFC 1939): the messages it retrieved,
// the ones it marked deleted, and whether QUIT committed the deletions. A DELE only marks a
// message; RSET undoes every mark (§5); the marks take effect when a +OK to QUIT from the
// TRANSACTION state enters UPDATE (§6), and a session that ends any other way deletes nothing.
// Messages are named by the UID a UIDL reply gave them, else as "#n".
//
// A caller drives a Mailbox with the server's +OK replies. The zero value is a session that
// has done nothing. A Mailbox is not safe for concurrent use.
type Mailbox struct {
	uids      UIDs
	retrieved []string
	deleted   []string // marked, in the order of the DELEs
	committed bool
}

// LearnUID records the "msg uid" pair of a UIDL reply line (see UIDs.Learn).
func (m *Mailbox) LearnUID(line []byte) { m.uids.Learn(line) }

// UID returns the UID of message n, or "" when no UIDL reply named it.
func (m *Mailbox) UID(n int) string { return m.uids.Get(n) }

// Retrieve records that message n was retrieved whole (a RETR reply).
func (m *Mailbox) Retrieve(n int) { m.retrieved = append(m.retrieved, m.name(n)) }

// Delete records a +OK to DELE n: message n is marked deleted.
func (m *Mailbox) Delete(n int) { m.deleted = append(m.deleted, m.name(n)) }

// Reset records a +OK to RSET: no message is marked deleted any more.
func (m *Mailbox) Reset() { m.deleted = m.deleted[:0] }

// Quit records a +OK to QUIT; transaction says the session was in the TRANSACTION state, so
// that the server entered UPDATE and committed the marked deletions.
func (m *Mailbox) Quit(transaction bool) { m.committed = transaction }

// Retrieved returns the names of the messages retrieved, in order. The slice is the caller's.
func (m *Mailbox) Retrieved() []string { return slices.Clone(m.retrieved) }

// Deleted returns the names of the messages marked deleted, in order: deleted if Committed,
// else left in the maildrop. The slice is the caller's.
func (m *Mailbox) Deleted() []string { return slices.Clone(m.deleted) }

// Committed reports whether QUIT ended the session from TRANSACTION, committing its
// deletions (if any).
func (m *Mailbox) Committed() bool { return m.committed }

// name names message n: its UID when known, else "#n".
func (m *Mailbox) name(n int) string {
	if uid := m.uids.Get(n); uid != "" {
		return uid
	}
	return "#" + strconv.Itoa(n)
}
