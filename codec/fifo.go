package codec

// MaxPending caps the commands awaiting replies; beyond it framing stops, so that a client
// pipelining without end cannot grow a tracker without bound.
const MaxPending = 256

// bodyKind says what follows a +OK to a command.
type bodyKind uint8

const (
	bodyNone bodyKind = iota // single-line reply
	bodyList                 // multi-line reply framed line by line (CAPA, LIST, UIDL, LANG, AUTH, XTND)
	bodyData                 // multi-line message content (RETR, TOP), scanned without copying
)

// bodyFor returns what a +OK to c is followed by (RFC 1939 §3–7, RFC 2449 §5, RFC 6856 §3):
// multi-line for RETR, TOP, CAPA and XTND, and for LIST, UIDL, LANG and AUTH without argument.
// Unknown commands are taken as single-line. A -ERR is always single-line.
func bodyFor(c Command) bodyKind {
	switch c.Verb {
	case "RETR", "TOP":
		return bodyData
	case "CAPA", "XTND":
		return bodyList
	case "LIST", "UIDL", "LANG", "AUTH":
		if !c.HasArg() {
			return bodyList
		}
	}
	return bodyNone
}

// pending is one command awaiting its reply.
type pending struct {
	cmd       Command  // as shown in frames (sanitised when it carried a secret)
	verb      string   // the verb, for the tracker's own decisions
	body      bodyKind // what follows a +OK
	greeting  bool     // the pseudo-command the greeting answers
	authMech  bool     // AUTH with a mechanism: continuations may answer it
	afterQuit bool     // sent after QUIT: no reply is expected
}

// fifo is the queue of pending commands, in the order they were sent (RFC 2449 §6.6).
type fifo struct {
	q    []pending
	head int
}

func (f *fifo) len() int { return len(f.q) - f.head }

func (f *fifo) push(p pending) { f.q = append(f.q, p) }

// front returns the oldest pending command.
func (f *fifo) front() (pending, bool) {
	if f.len() == 0 {
		return pending{}, false
	}
	return f.q[f.head], true
}

// pop drops the oldest pending command; an emptied queue gives back a large array.
func (f *fifo) pop() {
	f.q[f.head] = pending{}
	f.head++
	if f.head == len(f.q) {
		f.q, f.head = f.q[:0], 0
		if cap(f.q) > 16 {
			f.q = nil
		}
	}
}

// afterQuit counts pending commands sent after QUIT.
func (f *fifo) afterQuit() int {
	n := 0
	for _, p := range f.q[f.head:] {
		if p.afterQuit {
			n++
		}
	}
	return n
}

// footprint returns the bytes the queue holds on to, roughly.
func (f *fifo) footprint() int { return cap(f.q) * 96 }
