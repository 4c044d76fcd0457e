// Package pcapng writes popwire's log events as a pcapng capture of the decrypted sessions,
// for Wireshark and tshark: each session's two legs, client ⇄ popwire and popwire ⇄
// upstream, are TCP conversations between their real addresses and ports, opened with a
// handshake, closed with FINs, their sequence and acknowledgement numbers advancing with
// every byte so that Wireshark's POP dissector follows them and reassembles each message.
//
// The packets hold what the log holds, and nothing else: every command, reply and SASL line
// as the event records it (credentials redacted exactly as there, since it is the events'
// text), the lines of a CAPA or AUTH listing, and a message's content when the log was written
// with --bodies full. What the log does not hold (the lines of LIST and UIDL, a message without
// --bodies full, a message's content past what the log kept) is a stretch of sequence numbers
// with no packet, which Wireshark shows as a segment not captured. Each session is an
// interface of its own, whose name is the session id and whose comment says where the
// packets come from and what was redacted; gopacket's NgWriter writes no per-packet comments.
package pcapng

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/popwire/popwire/internal/logview"
	"github.com/popwire/popwire/internal/pop3wire"
	"github.com/popwire/popwire/internal/redact"
)

// MaxSegment is the most payload one packet carries; longer content is cut into segments.
const MaxSegment = 16 << 10

// Credentials says what a session's comment tells about its credentials.
type Credentials int

const (
	// CredentialsAsLogged: the events are read back from a log, which says nothing of how it
	// was written; the comment says that [redacted] marks each secret popwire took out.
	CredentialsAsLogged Credentials = iota
	// CredentialsRedacted: popwire redacted every secret (serve without --reveal-credentials).
	CredentialsRedacted
	// CredentialsRevealed: popwire ran with --reveal-credentials; the secrets are in clear.
	CredentialsRevealed
)

// Options configures an Encoder.
type Options struct {
	Application string      // the program and its version, in the section header and each comment
	Credentials Credentials // what the comments say about credentials
	HideUsers   bool        // user names were hashed (--hide-users); the comments say so
}

// Encoder turns events into pcapng blocks; it is a logview.Encoder, for a FileSink that
// reopens its file (each file a section of its own: the sessions that go on are declared
// again in it) or for a Writer. Events of a session whose open event it did not see are left
// out (Skipped counts them). An Encoder is not safe for concurrent use.
type Encoder struct {
	opts     Options
	out      appender
	w        *pcapgo.NgWriter
	file     int // the section being written, counted from 1
	sessions map[string]*session
	packet   gopacket.SerializeBuffer
	stats    Stats
}

// Stats counts what an Encoder wrote and what it left out.
type Stats struct {
	Sessions  int64 // sessions whose open event it saw
	Skipped   int64 // events of sessions whose open event it did not see (a log that starts mid-session)
	NoContent int64 // RETR and TOP messages whose content the events do not hold (no --bodies full)
}

// NewEncoder returns an Encoder; call Begin before the first Append.
func NewEncoder(opts Options) *Encoder {
	return &Encoder{opts: opts, sessions: make(map[string]*session), packet: gopacket.NewSerializeBuffer()}
}

// Stats returns what the Encoder wrote and left out so far.
func (enc *Encoder) Stats() Stats { return enc.stats }

// appender is the io.Writer the NgWriter writes to: it appends to the slice an Encoder call
// returns.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// Begin appends a section header to dst, for a new file: the sessions that go on are declared
// again in it before their next packet.
func (enc *Encoder) Begin(dst []byte) ([]byte, error) {
	enc.out.b = dst
	enc.file++
	w, err := pcapgo.NewNgWriterInterface(&enc.out, pcapgo.NgInterface{
		Name:        "popwire",
		Description: "popwire's decrypted sessions: each session is an interface of its own, named by its id",
		LinkType:    layers.LinkTypeRaw,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Application: enc.opts.Application,
		Comment: "Sessions exported by " + enc.application() + " from its log events: the TLS legs decrypted, " +
			"each session's interface comment says what was redacted and how to decode it.",
	}})
	if err != nil {
		return dst, fmt.Errorf("pcapng: section header: %w", err)
	}
	enc.w = w
	return enc.flush()
}

func (enc *Encoder) application() string {
	if enc.opts.Application == "" {
		return "popwire"
	}
	return enc.opts.Application
}

// flush writes what the NgWriter buffered and returns the bytes of the call.
func (enc *Encoder) flush() ([]byte, error) {
	err := enc.w.Flush()
	b := enc.out.b
	enc.out.b = nil
	if err != nil {
		return b, fmt.Errorf("pcapng: %w", err)
	}
	return b, nil
}

// Append appends the packets that e stands for to dst; most kinds of event stand for none.
func (enc *Encoder) Append(dst []byte, e *logview.Event) ([]byte, error) {
	if enc.w == nil {
		return dst, fmt.Errorf("pcapng: Append before Begin")
	}
	if e.Session == "" {
		return dst, nil
	}
	enc.out.b = dst
	s := enc.sessions[e.Session]
	if s == nil && e.Kind != logview.KindOpen {
		enc.stats.Skipped++
		return enc.flush()
	}
	var err error
	switch e.Kind {
	case logview.KindOpen:
		s = enc.open(e)
		err = enc.handshake(s, s.client, e.Time)
	case logview.KindConnect:
		s.upstream = newConn(e.Session, "upstream", e.Local, e.Upstream)
		err = enc.handshake(s, s.upstream, e.Time)
	case logview.KindCommand:
		err = enc.line(s, e, fromClient, e.Text+"\r\n")
	case logview.KindSASL:
		if e.Dir == logview.DirServerToClient {
			err = enc.line(s, e, fromServer, statusLine(e))
		} else {
			err = enc.line(s, e, fromClient, e.Text+"\r\n")
		}
	case logview.KindGreeting, logview.KindReply:
		err = enc.line(s, e, fromServer, statusLine(e))
	case logview.KindBody:
		err = enc.body(s, e)
	case logview.KindClose:
		err = enc.close(s, e.Time)
		delete(enc.sessions, e.Session)
	}
	if err != nil {
		enc.out.b = nil
		return dst, err
	}
	return enc.flush()
}

// session is what the Encoder knows of one session.
type session struct {
	id       string
	comment  string
	desc     string
	file     int   // the section its interface was declared in; 0: none yet
	iface    int   // its interface id in that section
	client   *conn // client ⇄ popwire
	upstream *conn // popwire ⇄ upstream; nil until the connect event
}

func (enc *Encoder) open(e *logview.Event) *session {
	s := &session{id: e.Session, client: newConn(e.Session, "client", e.Client, e.Local)}
	s.desc = fmt.Sprintf("popwire session %s: client %s to popwire %s, upstream %s", e.Session, e.Client, e.Local, e.Upstream)
	s.comment = enc.comment(e)
	enc.sessions[e.Session] = s
	enc.stats.Sessions++
	return s
}

// comment is what a session's interface comment says: who exported the packets, how, what
// was redacted, what is missing, and how to make Wireshark decode the legs as POP.
func (enc *Encoder) comment(e *logview.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Exported by %s from the log of session %s: both legs decrypted, client ⇄ popwire and popwire ⇄ upstream "+
		"each a TCP conversation of its own, rebuilt from the log's events. ", enc.application(), e.Session)
	switch enc.opts.Credentials {
	case CredentialsRedacted:
		fmt.Fprintf(&b, "Credentials are redacted exactly as in the log: the secret of every PASS, APOP and AUTH line and SASL "+
			"response, and every echo of one by the server, reads %s. ", redact.Marker)
	case CredentialsRevealed:
		b.WriteString("Credentials are NOT redacted: popwire ran with --reveal-credentials, and the secrets are in clear. ")
	default:
		fmt.Fprintf(&b, "Credentials are as the log holds them: %s where popwire took a secret out (every PASS, APOP and AUTH "+
			"secret, SASL response and echo of one, unless it ran with --reveal-credentials). ", redact.Marker)
	}
	if enc.opts.HideUsers {
		b.WriteString("User names are replaced by keyed hashes (--hide-users). ")
	}
	b.WriteString("What the log does not hold is a segment not captured: the lines of LIST, UIDL and other multi-line " +
		"replies, and message content the log did not keep (all of it without --bodies full). ")
	var ports []string
	for _, addr := range []string{e.Local, e.Upstream} {
		if ap, err := netip.ParseAddrPort(addr); err == nil {
			ports = append(ports, fmt.Sprint(ap.Port()))
		} else if i := strings.LastIndexByte(addr, ':'); i >= 0 {
			ports = append(ports, addr[i+1:])
		}
	}
	if len(ports) > 0 {
		fmt.Fprintf(&b, "Wireshark takes only port 110 for POP (and 995 for TLS): decode the legs with Decode As, TCP port %s → POP "+
			"(tshark: -d tcp.port==%s,pop).", strings.Join(ports, " and "), strings.Join(ports, ",pop -d tcp.port=="))
	}
	return b.String()
}

// conn is one leg's TCP conversation: a, which opened it (the client, or popwire), and b.
type conn struct {
	a, b   netip.AddrPort
	seq    [2]uint32 // the next sequence number of a and of b
	closed bool
}

// The sides of a conn.
const (
	sideA = 0
	sideB = 1
)

// newConn returns the conversation from a to b of a session's leg; an address the log does
// not hold (one written before popwire logged both ends) is the unspecified one, port 0.
// Each side's initial sequence number is drawn from the session, leg and side, so that the
// same log always gives the same capture.
func newConn(session, leg, a, b string) *conn {
	c := &conn{a: parseAddr(a), b: parseAddr(b)}
	c.a, c.b = sameFamily(c.a, c.b)
	for side := range c.seq {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s %s %d", session, leg, side)
		c.seq[side] = h.Sum32()
	}
	return c
}

func parseAddr(s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// sameFamily returns a and b in one address family: IPv4 in IPv6 when they differ.
func sameFamily(a, b netip.AddrPort) (netip.AddrPort, netip.AddrPort) {
	if a.Addr().Is4() == b.Addr().Is4() {
		return a, b
	}
	to6 := func(ap netip.AddrPort) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	return to6(a), to6(b)
}

// The TCP flags of a packet.
const (
	flagFIN = 1 << iota
	flagSYN
	flagPSH
	flagACK
)

// send writes one packet from side of c: payload, with flags; SYN and FIN count as one
// sequence number, as in TCP.
func (enc *Encoder) send(s *session, c *conn, side, flags int, payload []byte, at time.Time) error {
	if err := enc.declare(s); err != nil {
		return err
	}
	src, dst := c.a, c.b
	if side == sideB {
		src, dst = dst, src
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: c.seq[side], Window: 65535,
		SYN: flags&flagSYN != 0, FIN: flags&flagFIN != 0, PSH: flags&flagPSH != 0, ACK: flags&flagACK != 0}
	if tcp.ACK {
		tcp.Ack = c.seq[1-side]
	}
	var ip gopacket.SerializableLayer
	if src.Addr().Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(v4)
		ip = v4
	} else {
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(v6)
		ip = v6
	}
	if err := gopacket.SerializeLayers(enc.packet, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, tcp, gopacket.Payload(payload)); err != nil {
		return fmt.Errorf("pcapng: build packet: %w", err)
	}
	c.seq[side] += uint32(len(payload))
	if flags&(flagSYN|flagFIN) != 0 {
		c.seq[side]++
	}
	data := enc.packet.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(data), Length: len(data), InterfaceIndex: s.iface}
	if err := enc.w.WritePacket(ci, data); err != nil {
		return fmt.Errorf("pcapng: %w", err)
	}
	return nil
}

// declare writes the session's interface into the current section, once.
func (enc *Encoder) declare(s *session) error {
	if s.file == enc.file {
		return nil
	}
	id, err := enc.w.AddInterface(pcapgo.NgInterface{Name: s.id, Description: s.desc, Comment: s.comment, LinkType: layers.LinkTypeRaw})
	if err != nil {
		return fmt.Errorf("pcapng: interface of session %s: %w", s.id, err)
	}
	s.file, s.iface = enc.file, id
	return nil
}

// handshake opens c: SYN, SYN-ACK, ACK.
func (enc *Encoder) handshake(s *session, c *conn, at time.Time) error {
	for _, p := range []struct{ side, flags int }{{sideA, flagSYN}, {sideB, flagSYN | flagACK}, {sideA, flagACK}} {
		if err := enc.send(s, c, p.side, p.flags, nil, at); err != nil {
			return err
		}
	}
	return nil
}

// close ends both legs: a FIN from each side, then the last ACK.
func (enc *Encoder) close(s *session, at time.Time) error {
	for _, c := range []*conn{s.client, s.upstream} {
		if c == nil || c.closed {
			continue
		}
		c.closed = true
		for _, p := range []struct{ side, flags int }{{sideA, flagFIN | flagACK}, {sideB, flagFIN | flagACK}, {sideA, flagACK}} {
			if err := enc.send(s, c, p.side, p.flags, nil, at); err != nil {
				return err
			}
		}
	}
	return nil
}

// direction says which way a line goes.
type direction int

const (
	fromClient direction = iota // the client's, or popwire's to the upstream
	fromServer                  // the upstream's, or popwire's to the client
)

// legs returns the conversations a line of e travels on, in the order it travels, and the side
// it comes from on each: a client's line goes to popwire, then on to the upstream; a server's
// comes from the upstream, then goes on to the client; what popwire answers itself, and the
// commands it answers, are on the client leg only.
func (s *session) legs(e *logview.Event, d direction) ([]*conn, int) {
	side := sideA
	if d == fromServer {
		side = sideB
	}
	var cs []*conn
	switch {
	case e.Dir == logview.DirLocal:
		cs = []*conn{s.client}
	case d == fromClient:
		cs = []*conn{s.client, s.upstream}
	default:
		cs = []*conn{s.upstream, s.client}
	}
	kept := cs[:0]
	for _, c := range cs {
		if c != nil && !c.closed {
			kept = append(kept, c)
		}
	}
	return kept, side
}

// line writes one line of e, in one segment, on each leg it travels.
func (enc *Encoder) line(s *session, e *logview.Event, d direction, text string) error {
	cs, side := s.legs(e, d)
	for _, c := range cs {
		if err := enc.data(s, c, side, []byte(text), e.Time); err != nil {
			return err
		}
	}
	return nil
}

// data writes payload from side of c in segments of at most MaxSegment.
func (enc *Encoder) data(s *session, c *conn, side int, payload []byte, at time.Time) error {
	for len(payload) > 0 {
		n := min(len(payload), MaxSegment)
		if err := enc.send(s, c, side, flagPSH|flagACK, payload[:n], at); err != nil {
			return err
		}
		payload = payload[n:]
	}
	return nil
}

// statusLine renders a status line (greeting, reply, SASL challenge) from its event.
func statusLine(e *logview.Event) string {
	var b strings.Builder
	b.WriteString(e.Status)
	if e.Code != "" {
		b.WriteString(" [" + e.Code + "]")
	}
	if e.Text != "" {
		b.WriteString(" " + e.Text)
	}
	b.WriteString("\r\n")
	return b.String()
}

// terminator ends a multi-line reply (RFC 1939 §3).
const terminator = ".\r\n"

// body writes the lines of a multi-line reply that the log holds and its terminator on each
// leg; the octets it does not hold are skipped over (a segment not captured).
func (enc *Encoder) body(s *session, e *logview.Event) error {
	content, missing := bodyContent(e)
	if e.Message != nil && e.Message.Content.Len() == 0 && e.Bytes > 0 {
		enc.stats.NoContent++
	}
	cs, side := s.legs(e, fromServer)
	for _, c := range cs {
		if missing == 0 {
			if err := enc.data(s, c, side, append(content, terminator...), e.Time); err != nil {
				return err
			}
			continue
		}
		if err := enc.data(s, c, side, content, e.Time); err != nil {
			return err
		}
		c.seq[side] += uint32(missing)
		if err := enc.data(s, c, side, []byte(terminator), e.Time); err != nil {
			return err
		}
	}
	return nil
}

// bodyContent returns the octets of a multi-line reply that its body event holds, as sent
// (dot-stuffed, terminator excluded), and how many of the e.Bytes sent it does not hold.
func bodyContent(e *logview.Event) ([]byte, int64) {
	var content []byte
	switch {
	case e.Message != nil && e.Message.Content.Len() > 0:
		// Copied once from the parts it is held in: Stuff works on the copy.
		raw := make([]byte, 0, e.Message.Content.Len())
		for _, p := range e.Message.Content.Parts() {
			raw = append(raw, p...)
		}
		content = stuff(raw)
	case e.Listing != nil && e.Listing.OmittedLines == 0 && e.Listing.OmittedBytes == 0:
		// The lines of a LIST, UIDL, CAPA, … reply, whole: taken when they add up to the octets
		// sent (a secret redacted in one changes its length).
		var lines []byte
		for _, l := range e.Listing.Lines {
			lines = append(append(lines, l...), "\r\n"...)
		}
		content = stuff(lines)
		if int64(len(content)) != e.Bytes {
			content = nil
		}
	case e.Text != "":
		// A CAPA, AUTH or LANG listing, its lines joined with ", ": taken when they add up to the
		// octets sent (no line held ", ", none was left out).
		for l := range strings.SplitSeq(e.Text, ", ") {
			content = append(append(content, l...), "\r\n"...)
		}
		if int64(len(content)) != e.Bytes {
			content = nil
		}
	}
	return content, max(e.Bytes-int64(len(content)), 0)
}

// stuff dot-stuffs content as it went on the wire (RFC 1939 §3) with pop3wire.Stuff, less the
// final CRLF Stuff adds to content that lacks one: content cut short by the log's cap ends
// where the cut is, and the capture invents no byte. The result may be content itself.
func stuff(content []byte) []byte {
	out := pop3wire.Stuff(content)
	if len(content) > 0 && !bytes.HasSuffix(content, []byte("\r\n")) {
		out = out[:len(out)-2]
	}
	return out
}
