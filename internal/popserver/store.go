package popserver

import (
	"errors"
	"fmt"
	"sync"
)

// Message is one message of a maildrop.
type Message struct {
	// UID is the unique-id listing of RFC 1939 §7: 1 to 70 octets in 0x21–0x7E, unique within
	// its maildrop.
	UID string
	// Data is the raw RFC 5322 message. Store.Put normalises every bare LF to CRLF.
	Data []byte
}

// errBadUID is wrapped by Put when a UID breaks RFC 1939 §7.
var errBadUID = errors.New("popserver: invalid uid")

// Store holds every user's maildrop in memory. The zero value is an empty store ready to use;
// a Store is safe for concurrent use and may be shared by several Servers.
type Store struct {
	mu    sync.Mutex
	drops map[string]*maildrop // user → maildrop; nil until the first Put or login
}

// maildrop is one user's mailbox; locked is set while a session is in TRANSACTION.
type maildrop struct {
	msgs   []*stored
	locked bool
}

// Put appends msgs to user's maildrop. Sessions already in TRANSACTION do not see them until
// their next login. Put copies each message's Data (normalising line endings) and rejects a
// UID that is not 1–70 octets of 0x21–0x7E (RFC 1939 §7) or already in the maildrop.
func (st *Store) Put(user string, msgs ...Message) error {
	prepared := make([]*stored, 0, len(msgs))
	seen := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		if !validUID(m.UID) {
			return fmt.Errorf("%w %q", errBadUID, m.UID)
		}
		if seen[m.UID] {
			return fmt.Errorf("%w: %q given twice", errBadUID, m.UID)
		}
		seen[m.UID] = true
		prepared = append(prepared, newStored(m.UID, m.Data))
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.dropLocked(user)
	for _, m := range d.msgs {
		if seen[m.uid] {
			return fmt.Errorf("%w: %q already in the maildrop of %q", errBadUID, m.uid, user)
		}
	}
	d.msgs = append(d.msgs, prepared...)
	return nil
}

// Messages returns the current contents of user's maildrop, in order; nil when it is empty.
// Data slices are shared with the store and must not be modified.
func (st *Store) Messages(user string) []Message {
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.drops[user]
	if d == nil || len(d.msgs) == 0 {
		return nil
	}
	out := make([]Message, len(d.msgs))
	for i, m := range d.msgs {
		out[i] = Message{UID: m.uid, Data: m.data}
	}
	return out
}

// dropLocked returns user's maildrop, creating it; st.mu must be held.
func (st *Store) dropLocked(user string) *maildrop {
	if st.drops == nil {
		st.drops = make(map[string]*maildrop)
	}
	d := st.drops[user]
	if d == nil {
		d = &maildrop{}
		st.drops[user] = d
	}
	return d
}

// acquire locks user's maildrop for one session and returns its snapshot, or nil when another
// session holds the lock (RFC 1939 §8, RFC 2449 §8.1.2 IN-USE).
func (st *Store) acquire(user string) *lease {
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.dropLocked(user)
	if d.locked {
		return nil
	}
	d.locked = true
	msgs := make([]*stored, len(d.msgs))
	copy(msgs, d.msgs)
	return &lease{store: st, drop: d, msgs: msgs, deleted: make([]bool, len(msgs))}
}

// lease is a session's hold on a locked maildrop: the message list it saw at login (numbers
// are stable for the session, RFC 1939 §5) and the deletion marks.
type lease struct {
	store   *Store
	drop    *maildrop
	msgs    []*stored
	deleted []bool
}

// release unlocks the maildrop without removing anything (a session that ended without QUIT).
func (l *lease) release() {
	l.store.mu.Lock()
	l.drop.locked = false
	l.store.mu.Unlock()
}

// commit removes the marked messages and unlocks the maildrop (the UPDATE state, RFC 1939 §6).
// It returns how many messages it removed.
func (l *lease) commit() int {
	gone := make(map[*stored]bool)
	for i, d := range l.deleted {
		if d {
			gone[l.msgs[i]] = true
		}
	}
	l.store.mu.Lock()
	defer l.store.mu.Unlock()
	kept := l.drop.msgs[:0]
	for _, m := range l.drop.msgs {
		if !gone[m] {
			kept = append(kept, m)
		}
	}
	clear(l.drop.msgs[len(kept):])
	l.drop.msgs = kept
	l.drop.locked = false
	return len(gone)
}

// validUID reports whether uid follows RFC 1939 §7: 1 to 70 octets in 0x21–0x7E.
func validUID(uid string) bool {
	if len(uid) == 0 || len(uid) > 70 {
		return false
	}
	for i := 0; i < len(uid); i++ {
		if uid[i] < 0x21 || uid[i] > 0x7e {
			return false
		}
	}
	return true
}
