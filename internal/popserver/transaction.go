package popserver

import (
	"strconv"
	"strings"
)

// cmdStat answers STAT: "+OK count octets" over the messages not marked deleted (RFC 1939 §5).
func (s *session) cmdStat() {
	n, size := s.totals()
	s.ok(strconv.Itoa(n) + " " + strconv.Itoa(size))
}

// cmdList answers LIST (multi-line, deleted messages omitted) and LIST n (RFC 1939 §5).
func (s *session) cmdList(arg string) {
	if arg != "" {
		if i, ok := s.message(arg); ok {
			s.ok(strconv.Itoa(i+1) + " " + strconv.Itoa(len(s.lease.msgs[i].data)))
		}
		return
	}
	n, _ := s.totals()
	s.ok(strconv.Itoa(n) + " messages:")
	for i, m := range s.lease.msgs {
		if !s.lease.deleted[i] {
			s.line(strconv.Itoa(i+1) + " " + strconv.Itoa(len(m.data)))
		}
	}
	s.end()
}

// cmdUIDL answers UIDL (multi-line) and UIDL n (RFC 1939 §7).
func (s *session) cmdUIDL(arg string) {
	if arg != "" {
		if i, ok := s.message(arg); ok {
			s.ok(strconv.Itoa(i+1) + " " + s.lease.msgs[i].uid)
		}
		return
	}
	s.ok("")
	for i, m := range s.lease.msgs {
		if !s.lease.deleted[i] {
			s.line(strconv.Itoa(i+1) + " " + m.uid)
		}
	}
	s.end()
}

// cmdRetr answers RETR n with the whole message, dot-stuffed, sized per RFC 1939 §11.
func (s *session) cmdRetr(arg string) {
	i, ok := s.message(arg)
	if !ok {
		return
	}
	m := s.lease.msgs[i]
	s.ok(strconv.Itoa(len(m.data)) + " octets")
	s.body(m.wire)
	s.end()
}

// cmdTop answers TOP n lines: the header, the blank line and the first lines of the body
// (RFC 1939 §7).
func (s *session) cmdTop(arg string) {
	msg, count, ok := strings.Cut(arg, " ")
	if !ok {
		s.err("TOP needs a message number and a line count.")
		return
	}
	lines, valid := number(strings.TrimLeft(count, " "))
	if !valid {
		s.err("Invalid line count.")
		return
	}
	i, ok := s.message(msg)
	if !ok {
		return
	}
	s.ok("")
	s.body(top(s.lease.msgs[i].wire, lines))
	s.end()
}

// cmdDele marks message n deleted; only QUIT removes it (RFC 1939 §5, §6).
func (s *session) cmdDele(arg string) {
	i, ok := s.message(arg)
	if !ok {
		return
	}
	s.lease.deleted[i] = true
	s.ok("message " + strconv.Itoa(i+1) + " deleted")
}

// cmdRset unmarks every message (RFC 1939 §5).
func (s *session) cmdRset() {
	clear(s.lease.deleted)
	n, size := s.totals()
	s.ok("maildrop has " + strconv.Itoa(n) + " messages (" + strconv.Itoa(size) + " octets)")
}

// totals counts the messages not marked deleted and their octets.
func (s *session) totals() (n, size int) {
	for i, m := range s.lease.msgs {
		if !s.lease.deleted[i] {
			n++
			size += len(m.data)
		}
	}
	return n, size
}

// message resolves a message-number argument to an index, queueing -ERR when it is not a
// number, out of range or marked deleted (RFC 1939 §5: such a number "may not be referred to").
func (s *session) message(arg string) (int, bool) {
	n, ok := number(arg)
	switch {
	case !ok || n == 0:
		s.err("Invalid message number.")
		return 0, false
	case n > len(s.lease.msgs):
		s.err("no such message, only " + strconv.Itoa(len(s.lease.msgs)) + " messages in maildrop")
		return 0, false
	case s.lease.deleted[n-1]:
		s.err("message " + strconv.Itoa(n) + " already deleted")
		return 0, false
	}
	return n - 1, true
}

// number parses a non-negative decimal argument; values too large for an int saturate.
func number(arg string) (int, bool) {
	if arg == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<31-1)/10 {
			n = 1<<31 - 1
			continue
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
