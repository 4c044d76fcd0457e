package pcapng

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/popwire/popwire/internal/logview"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

const (
	clientAddr   = "127.0.0.1:51234"
	listenAddr   = "127.0.0.1:1110"
	popwireAddr  = "192.0.2.10:40312"
	upstreamAddr = "203.0.113.7:995"
	greetingText = "Dovecot ready."
	message      = "From: ann@example.org\r\nSubject: hello there\r\n\r\n.dotted line\r\nbody\r\n"
)

// sessionEvents is one session as the recorder logs it: CAPA, STLS answered by popwire, a
// login whose password is redacted, LIST (whose lines the log does not hold), RETR with the
// message's content, and QUIT.
func sessionEvents(id string) []logview.Event {
	capa := "TOP, USER, SASL PLAIN"
	evs := []logview.Event{
		{Kind: logview.KindOpen, Client: clientAddr, Local: listenAddr, Listener: "plain", Upstream: "pop.example.net:995", ClientSec: "plaintext", UpstreamSec: "tls"},
		{Kind: logview.KindConnect, Leg: "upstream", Local: popwireAddr, Upstream: upstreamAddr},
		{Kind: logview.KindTLS, Leg: "upstream", UpstreamSec: "tls"},
		{Kind: logview.KindGreeting, Dir: logview.DirServerToClient, Status: "+OK", Text: greetingText},
		{Kind: logview.KindCommand, Dir: logview.DirClientToServer, Verb: "CAPA", Text: "CAPA"},
		{Kind: logview.KindReply, Dir: logview.DirServerToClient, Answers: "CAPA", Status: "+OK"},
		{Kind: logview.KindBody, Dir: logview.DirServerToClient, Answers: "CAPA", Lines: 3, Bytes: int64(len("TOP\r\nUSER\r\nSASL PLAIN\r\n")), Text: capa},
		{Kind: logview.KindCommand, Dir: logview.DirLocal, Verb: "STLS", Text: "STLS"},
		{Kind: logview.KindReply, Dir: logview.DirLocal, Answers: "STLS", Status: "+OK", Text: "Begin TLS negotiation now."},
		{Kind: logview.KindTLS, Leg: "client", ClientSec: "stls"},
		{Kind: logview.KindCommand, Dir: logview.DirClientToServer, Verb: "USER", Text: "USER bob"},
		{Kind: logview.KindReply, Dir: logview.DirServerToClient, Answers: "USER", Status: "+OK"},
		{Kind: logview.KindCommand, Dir: logview.DirClientToServer, Verb: "PASS", Text: "PASS [redacted]", Redacted: true},
		{Kind: logview.KindReply, Dir: logview.DirServerToClient, Answers: "PASS", Status: "+OK", Text: "Logged in."},
		{Kind: logview.KindCommand, Dir: logview.DirClientToServer, Verb: "LIST", Text: "LIST"},
		{Kind: logview.KindReply, Dir: logview.DirServerToClient, Answers: "LIST", Status: "+OK", Text: "1 messages"},
		{Kind: logview.KindBody, Dir: logview.DirServerToClient, Answers: "LIST", Lines: 1, Bytes: 6},
		{Kind: logview.KindCommand, Dir: logview.DirClientToServer, Verb: "RETR", Text: "RETR 1"},
		{Kind: logview.KindReply, Dir: logview.DirServerToClient, Answers: "RETR", Status: "+OK", Text: fmt.Sprintf("%d octets", len(message))},
		{Kind: logview.KindBody, Dir: logview.DirServerToClient, Answers: "RETR", Lines: 5, Bytes: int64(len(message) + 1),
			Message: &logview.MessageInfo{Msg: 1, Octets: int64(len(message)), Subject: "hello there", Content: logview.ContentOf(message)}},
		{Kind: logview.KindCommand, Dir: logview.DirClientToServer, Verb: "QUIT", Text: "QUIT"},
		{Kind: logview.KindReply, Dir: logview.DirServerToClient, Answers: "QUIT", Status: "+OK", Text: "Logging out."},
		{Kind: logview.KindClose, Summary: &logview.Summary{Commands: 7, QuitSent: true}},
	}
	for i := range evs {
		evs[i].V, evs[i].Session, evs[i].Time = logview.Version, id, t0.Add(time.Duration(i)*time.Millisecond)
	}
	return evs
}

// packet is one decoded packet of a capture.
type packet struct {
	iface     pcapgo.NgInterface
	src, dst  string
	seq, ack  uint32
	syn, fin  bool
	ackFlag   bool
	payload   string
	timestamp time.Time
}

// readCapture decodes every packet of every section of b.
func readCapture(t *testing.T, b []byte) []packet {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var pkts []packet
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return pkts
		}
		if err != nil {
			t.Fatal(err)
		}
		iface, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		if p.NetworkLayer() != nil && p.NetworkLayer().LayerType() != layers.LayerTypeIPv4 || p.Layer(layers.LayerTypeTCP) == nil {
			p = gopacket.NewPacket(data, layers.LayerTypeIPv6, gopacket.Default)
		}
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			t.Fatalf("packet %d is not TCP: %v", len(pkts)+1, p)
		}
		flow := p.NetworkLayer().NetworkFlow()
		pkts = append(pkts, packet{iface: iface, src: fmt.Sprintf("%s:%d", flow.Src(), tcp.SrcPort), dst: fmt.Sprintf("%s:%d", flow.Dst(), tcp.DstPort),
			seq: tcp.Seq, ack: tcp.Ack, syn: tcp.SYN, fin: tcp.FIN, ackFlag: tcp.ACK, payload: string(tcp.Payload), timestamp: ci.Timestamp})
	}
}

// capture encodes evs as one file.
func capture(t *testing.T, opts Options, evs []logview.Event) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := w.Emit(e); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// stream is what one side of a conversation sent, rebuilt from its packets by their sequence
// numbers; a stretch with no packet reads as '?'.
type stream struct {
	isn   uint32
	next  uint32
	bytes []byte
	syn   bool
	fin   bool
}

// streams rebuilds each direction of each conversation ("SRC>DST") of pkts, failing t on a
// packet whose acknowledgement is not what the other side sent so far or whose sequence
// number goes back.
func streams(t *testing.T, pkts []packet) map[string]*stream {
	t.Helper()
	ss := map[string]*stream{}
	for i, p := range pkts {
		key, back := p.src+">"+p.dst, p.dst+">"+p.src
		s := ss[key]
		if s == nil {
			if !p.syn {
				t.Fatalf("packet %d (%s): the conversation does not start with SYN", i+1, key)
			}
			s = &stream{isn: p.seq, next: p.seq + 1, syn: true}
			ss[key] = s
			if peer := ss[back]; peer != nil && (!p.ackFlag || p.ack != peer.next) {
				t.Errorf("packet %d (%s): SYN-ACK acknowledges %d, want %d", i+1, key, p.ack, peer.next)
			}
			continue
		}
		if p.seq < s.next {
			t.Fatalf("packet %d (%s): sequence number %d goes back from %d", i+1, key, p.seq, s.next)
		}
		s.bytes = append(s.bytes, bytes.Repeat([]byte("?"), int(p.seq-s.next))...)
		s.bytes = append(s.bytes, p.payload...)
		s.next = p.seq + uint32(len(p.payload))
		if p.fin {
			s.fin = true
			s.next++
		}
		if peer := ss[back]; peer != nil && (!p.ackFlag || p.ack != peer.next) {
			t.Errorf("packet %d (%s): acknowledges %d, want %d (what the other side sent)", i+1, key, p.ack, peer.next)
		}
	}
	return ss
}

// TestCaptureHoldsBothLegs encodes a session and reads the capture back: two conversations
// between the session's real addresses, each opened with a handshake and closed with FINs;
// the bytes each side sent are the lines of the log, secrets redacted as there, STLS on the
// client leg alone, the LIST lines the log does not hold as a stretch with no packet, the
// message dot-stuffed after a status line that ends its own segment.
func TestCaptureHoldsBothLegs(t *testing.T) {
	pkts := readCapture(t, capture(t, Options{Application: "popwire test", Credentials: CredentialsRedacted}, sessionEvents("s1")))
	ss := streams(t, pkts)
	greeting := "+OK " + greetingText + "\r\n"
	capa := "+OK\r\nTOP\r\nUSER\r\nSASL PLAIN\r\n.\r\n"
	login := "+OK\r\n+OK Logged in.\r\n"
	list := "+OK 1 messages\r\n??????.\r\n"
	retr := fmt.Sprintf("+OK %d octets\r\n", len(message)) + strings.Replace(message, "\r\n.dotted", "\r\n..dotted", 1) + ".\r\n"
	quit := "+OK Logging out.\r\n"
	want := map[string]string{
		clientAddr + ">" + listenAddr:    "CAPA\r\nSTLS\r\nUSER bob\r\nPASS [redacted]\r\nLIST\r\nRETR 1\r\nQUIT\r\n",
		listenAddr + ">" + clientAddr:    greeting + capa + "+OK Begin TLS negotiation now.\r\n" + login + list + retr + quit,
		popwireAddr + ">" + upstreamAddr: "CAPA\r\nUSER bob\r\nPASS [redacted]\r\nLIST\r\nRETR 1\r\nQUIT\r\n",
		upstreamAddr + ">" + popwireAddr: greeting + capa + login + list + retr + quit,
	}
	if len(ss) != len(want) {
		t.Errorf("%d directions in the capture, want %d: %v", len(ss), len(want), keys(ss))
	}
	for key, text := range want {
		s := ss[key]
		if s == nil {
			t.Errorf("no %s in the capture (have %v)", key, keys(ss))
			continue
		}
		if string(s.bytes) != text {
			t.Errorf("%s sent\n%q\nwant\n%q", key, s.bytes, text)
		}
		if !s.syn || !s.fin {
			t.Errorf("%s: SYN %v, FIN %v; want both", key, s.syn, s.fin)
		}
	}
	statusSegment := false
	for _, p := range pkts {
		if p.payload == fmt.Sprintf("+OK %d octets\r\n", len(message)) {
			statusSegment = true
		}
		if p.iface.Name != "s1" || !strings.Contains(p.iface.Comment, "popwire test") || !strings.Contains(p.iface.Comment, "redacted exactly as in the log") {
			t.Fatalf("packet on interface %q, comment %q; want the session's, saying what was redacted and who exported it", p.iface.Name, p.iface.Comment)
		}
	}
	if !statusSegment {
		t.Error("the RETR status line does not end its segment: Wireshark would not reassemble the message")
	}
	if first, last := pkts[0].timestamp, pkts[len(pkts)-1].timestamp; !first.Equal(t0) || !last.Equal(t0.Add(22*time.Millisecond)) {
		t.Errorf("packets from %v to %v, want the events' times %v to %v", first, last, t0, t0.Add(22*time.Millisecond))
	}
}

func keys(ss map[string]*stream) []string {
	var ks []string
	for k := range ss {
		ks = append(ks, k)
	}
	return ks
}

// TestCaptureCommentSaysWhatWasRedacted checks the session comment for each way popwire
// treats credentials.
func TestCaptureCommentSaysWhatWasRedacted(t *testing.T) {
	for _, tt := range []struct {
		opts Options
		want []string
	}{
		{Options{Credentials: CredentialsRedacted}, []string{"Exported by popwire", "redacted exactly as in the log", "[redacted]", "-d tcp.port==1110,pop -d tcp.port==995,pop"}},
		{Options{Credentials: CredentialsRevealed}, []string{"NOT redacted", "--reveal-credentials"}},
		{Options{Credentials: CredentialsAsLogged, HideUsers: true}, []string{"as the log holds them", "--hide-users"}},
	} {
		pkts := readCapture(t, capture(t, tt.opts, sessionEvents("s1")))
		for _, w := range tt.want {
			if !strings.Contains(pkts[0].iface.Comment, w) {
				t.Errorf("%+v: comment %q lacks %q", tt.opts, pkts[0].iface.Comment, w)
			}
		}
	}
}

// TestCaptureGoesOnInANewFile starts a new file in the middle of a session, as serve does on
// SIGHUP: the new section declares the session again, and its sequence numbers go on from
// where the old file left them.
func TestCaptureGoesOnInANewFile(t *testing.T) {
	evs := sessionEvents("s1")
	enc := NewEncoder(Options{})
	first, err := enc.Begin(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs[:12] {
		if first, err = enc.Append(first, &e); err != nil {
			t.Fatal(err)
		}
	}
	second, err := enc.Begin(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs[12:] {
		if second, err = enc.Append(second, &e); err != nil {
			t.Fatal(err)
		}
	}
	whole := readCapture(t, capture(t, Options{}, evs))
	pkts := append(readCapture(t, first), readCapture(t, second)...)
	if len(pkts) != len(whole) {
		t.Fatalf("%d packets in two files, %d in one", len(pkts), len(whole))
	}
	for i := range pkts {
		p, w := pkts[i], whole[i]
		p.iface, w.iface = pcapgo.NgInterface{}, pcapgo.NgInterface{}
		if p != w {
			t.Fatalf("packet %d differs:\n%+v\nin one file:\n%+v", i+1, p, w)
		}
	}
	if got := readCapture(t, second)[0].iface.Name; got != "s1" {
		t.Errorf("the new file's packets are on interface %q, want the session's", got)
	}
}

// TestCaptureKeepsSessionsApart interleaves two sessions: each has interfaces and
// conversations of its own; an event of a session whose open the capture did not see is
// left out and counted.
func TestCaptureKeepsSessionsApart(t *testing.T) {
	a, b := sessionEvents("a"), sessionEvents("b")
	for i := range b {
		b[i].Client = strings.Replace(b[i].Client, "51234", "51235", 1)
		b[i].Local = strings.Replace(b[i].Local, "40312", "40313", 1)
	}
	var evs []logview.Event
	for i := range a {
		evs = append(evs, a[i], b[i])
	}
	evs = append(evs, logview.Event{Session: "c", Kind: logview.KindCommand, Text: "NOOP"})
	var out bytes.Buffer
	w, err := NewWriter(&out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		w.Emit(e)
	}
	if st := w.Stats(); st != (Stats{Sessions: 2, Skipped: 1}) {
		t.Errorf("stats %+v, want 2 sessions and the one event of the session never opened skipped", st)
	}
	pkts := readCapture(t, out.Bytes())
	per := map[string][]packet{}
	for _, p := range pkts {
		per[p.iface.Name] = append(per[p.iface.Name], p)
	}
	if len(per) != 2 || len(per["a"]) != len(per["b"]) {
		t.Fatalf("packets per interface: a %d, b %d, others %d", len(per["a"]), len(per["b"]), len(per)-2)
	}
	for name, ps := range per {
		if n := len(streams(t, ps)); n != 4 {
			t.Errorf("session %s: %d directions, want 4", name, n)
		}
	}
}

// TestCaptureWithoutContentSkipsTheMessage checks a RETR whose content the log does not hold
// (no --bodies full): the message is a stretch with no packet, then the terminator.
func TestCaptureWithoutContentSkipsTheMessage(t *testing.T) {
	evs := sessionEvents("s1")
	for i := range evs {
		if evs[i].Message != nil {
			m := *evs[i].Message
			m.Content = logview.Content{}
			evs[i].Message = &m
		}
	}
	var out bytes.Buffer
	w, err := NewWriter(&out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		w.Emit(e)
	}
	if n := w.Stats().NoContent; n != 1 {
		t.Errorf("%d messages counted without content, want 1", n)
	}
	ss := streams(t, readCapture(t, out.Bytes()))
	got := string(ss[upstreamAddr+">"+popwireAddr].bytes)
	want := fmt.Sprintf("+OK %d octets\r\n%s.\r\n+OK Logging out.\r\n", len(message), strings.Repeat("?", len(message)+1))
	if !strings.HasSuffix(got, want) {
		t.Errorf("upstream sent %q, want it to end %q", got, want)
	}
}

// TestCaptureIPv6 checks that IPv6 legs are written as IPv6.
func TestCaptureIPv6(t *testing.T) {
	evs := sessionEvents("s1")
	evs[0].Client, evs[0].Local = "[::1]:51234", "[::1]:1110"
	ss := streams(t, readCapture(t, capture(t, Options{}, evs)))
	if s := ss["::1:51234>::1:1110"]; s == nil || !strings.HasPrefix(string(s.bytes), "CAPA\r\n") {
		t.Errorf("no IPv6 client leg: %v", keys(ss))
	}
}

// TestCaptureHoldsListingLines: when the log holds the lines of a LIST reply whole, the capture
// carries them as sent, dot-stuffed, in place of the stretch with no packet; when the log cut
// them, it does not make them up.
func TestCaptureHoldsListingLines(t *testing.T) {
	for _, tt := range []struct {
		name    string
		listing logview.Listing
		want    string
	}{
		{"whole", logview.Listing{Lines: []string{"1 42"}}, "+OK 1 messages\r\n1 42\r\n.\r\n"},
		{"cut", logview.Listing{Lines: []string{"1 4…"}, OmittedBytes: 1}, "+OK 1 messages\r\n??????.\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			evs := sessionEvents("s1")
			for i := range evs {
				if evs[i].Kind == logview.KindBody && evs[i].Answers == "LIST" {
					evs[i].Listing = &tt.listing
				}
			}
			ss := streams(t, readCapture(t, capture(t, Options{Application: "popwire test", Credentials: CredentialsRedacted}, evs)))
			down := ss[upstreamAddr+">"+popwireAddr]
			if down == nil {
				t.Fatal("no upstream leg in the capture")
			}
			if !strings.Contains(string(down.bytes), tt.want) {
				t.Fatalf("the upstream leg does not carry %q:\n%q", tt.want, down.bytes)
			}
		})
	}
}

// TestCaptureContentCopiedOnce checks that a message's content (--bodies full, up to 16 MiB),
// held in parts as the recorder hands it over, is copied once to be written as the wire bytes:
// not joined into one string first and then copied again.
func TestCaptureContentCopiedOnce(t *testing.T) {
	text := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n", (4<<20)/81)
	var parts []string
	for rest := text; rest != ""; {
		n := min(len(rest), 256<<10+7) // parts that cut lines and words
		parts, rest = append(parts, rest[:n]), rest[n:]
	}
	e := logview.Event{Kind: logview.KindBody, Bytes: int64(len(text)),
		Message: &logview.MessageInfo{Msg: 1, Content: logview.NewContent(parts, nil)}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	content, missing := bodyContent(&e)
	runtime.ReadMemStats(&after)
	if string(content) != text || missing != 0 {
		t.Fatalf("the capture holds %d bytes of the %d sent (%d missing), or not as sent", len(content), len(text), missing)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > uint64(len(text))*9/8 {
		t.Errorf("capturing %d bytes of content allocated %d bytes, want at most 1.125 times the content", len(text), n)
	}
}
