package popclient

import "github.com/popwire/popwire/codec"

// PartKind says what a Part is. The zero value is no part.
type PartKind uint8

// The kinds of Part that Conn.Next returns.
const (
	PartStatus    PartKind = iota + 1 // a status line: the greeting or a reply; Multi when a body follows
	PartChallenge                     // a "+ …" SASL continuation (RFC 5034 §4): answer it with Send
	PartLine                          // one unstuffed line of a multi-line list (CAPA, LIST, UIDL, bare AUTH, …)
	PartData                          // unstuffed RETR/TOP content, in pieces of any size
	PartEnd                           // the terminating "." of a multi-line reply; Lines and Octets set
	PartTLS                           // the +OK to STLS: call Conn.Upgrade before anything else
	PartNote                          // something the codec reported: an anomaly or an unsolicited line
)

// Part is one piece of a server reply. A Part and the slices it holds belong to the caller.
type Part struct {
	Kind   PartKind
	Reply  codec.Reply // PartStatus, PartChallenge, PartTLS: the parsed status line
	Line   string      // the line without its line ending (status, list line), or the note's text
	Multi  bool        // PartStatus: a multi-line body follows
	Data   []byte      // PartData: content with dot-stuffing removed
	Lines  int64       // PartEnd: body lines, terminator excluded
	Octets int64       // PartEnd: body bytes on the wire, terminator excluded
	Last   bool        // this part completes the reply
}
