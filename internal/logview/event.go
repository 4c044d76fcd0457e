package logview

import (
	"encoding/json"
	"time"
)

// Version is the schema version written in every event's "v" field. Readers accept events of
// any version: fields are only ever added, never renamed, so an old log stays readable.
const Version = 1

// Stamp returns e with what every event popwire writes carries: the schema version of this
// binary and the time now, in UTC. It is the one place that sets them; events read back from a
// log keep their own.
func Stamp(e Event) Event {
	e.V, e.Time = Version, time.Now().UTC()
	return e
}

// TimeFormat is the fixed-width layout of Event.Time on the wire: RFC 3339 in UTC with
// nanoseconds, so that lines sort as text and every timestamp has the same width.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Kind names what an Event records. Kinds are strings on the wire so that old logs stay
// readable by new binaries; a reader meeting an unknown kind shows it generically.
type Kind string

// The kinds of event. Each comment lists the fields that kind sets besides V, Time, Session
// and Kind; docs/log-format.md has an example of each.
const (
	KindOpen     Kind = "open"     // session opened: Client, Via, Local, Listener, ClientSec, Upstream, UpstreamSec
	KindConnect  Kind = "connect"  // upstream leg connected: Leg, Upstream (the address reached), Local
	KindTLS      Kind = "tls"      // TLS established on one leg: Leg, ClientSec or UpstreamSec, TLS
	KindGreeting Kind = "greeting" // upstream greeting: Dir, Text, Status, Code
	KindCommand  Kind = "command"  // client command: Dir, Verb, Text (redacted), Redacted, Revealed, Mech
	KindReply    Kind = "reply"    // status line: Dir, Status, Code, Text, Answers (+ Msg, UID for a +OK to DELE)
	KindBody     Kind = "body"     // end of a multi-line reply: Dir, Answers, Lines, Bytes (+ Message for RETR/TOP, else Listing; Text for CAPA/AUTH/LANG)
	KindSASL     Kind = "sasl"     // SASL step: Dir, Mech, Step, Text (redacted), Redacted, Revealed
	KindPolicy   Kind = "policy"   // a local answer or rewrite: Dir, Action, Verb, Text
	KindAnomaly  Kind = "anomaly"  // non-conformant input that framing survived: Dir, Text
	KindFinding  Kind = "finding"  // a side broke a rule of the POP3 standards: Dir, Finding
	KindError    Kind = "error"    // something failed: Err (never holds a secret), Leg (+ Client, Listener, Upstream, Extra)
	KindDelete   Kind = "delete"   // DELE accepted by the server: Dir, Msg, UID
	KindClose    Kind = "close"    // session ended: Summary
	KindWarning  Kind = "warning"  // process-level warning (insecure flags, log trouble): Text, Leg
	KindDropped  Kind = "dropped"  // process-level: an output could not keep up and lost events: Output, Dropped, Text
	KindReload   Kind = "reload"   // process-level: the configuration file was reloaded (SIGHUP): Text says what changed
)

// Dir says which way the bytes an event records went: the values of Event.Dir. Like Kind, a
// Dir is a string on the wire.
type Dir string

// The values of Event.Dir.
const (
	DirClientToServer Dir = "c2s"   // sent by the client, forwarded upstream
	DirServerToClient Dir = "s2c"   // sent by the server, forwarded to the client
	DirLocal          Dir = "local" // popwire's own reply, or a command it answered itself; the server never saw it
)

// Leg names a side of a session: the values of Event.Leg, and the side whose bytes an event
// reports (see LegDir). Like Kind, a Leg is a string on the wire.
type Leg string

// The sides of a session.
const (
	LegClient   Leg = "client"   // the connection between the client and popwire
	LegUpstream Leg = "upstream" // the connection between popwire and the server
	LegLocal    Leg = "local"    // popwire itself: its own replies, and the commands it answers without forwarding them; never in Event.Leg
)

// LegDir returns the Dir of the bytes that come from a leg: DirClientToServer for LegClient,
// DirServerToClient for LegUpstream, DirLocal for LegLocal (popwire's own answers), "" for
// anything else.
func LegDir(leg Leg) Dir {
	switch leg {
	case LegClient:
		return DirClientToServer
	case LegUpstream:
		return DirServerToClient
	case LegLocal:
		return DirLocal
	}
	return ""
}

// Event is the one log record: the JSON log, the terminal printer and the viewer all use it.
// Zero-valued fields are omitted from JSON, except V, Time and Kind, which are always written.
// An Event holds no secrets: proxy redacts Text before any sink sees it, unless the operator
// asked for --reveal-credentials, in which case Revealed is set.
type Event struct {
	V           int       `json:"v"`                      // schema version, Version when written by this binary
	Time        time.Time `json:"time"`                   // when it happened; written in UTC as TimeFormat
	Session     string    `json:"session,omitempty"`      // session id; "" for process-level events
	Kind        Kind      `json:"kind"`                   // what the event records
	Dir         Dir       `json:"dir,omitempty"`          // DirClientToServer, DirServerToClient or DirLocal
	User        string    `json:"user,omitempty"`         // POP3 user once known (hashed under --hide-users)
	Client      string    `json:"client,omitempty"`       // client address HOST:PORT (behind a load balancer: from its PROXY header)
	Via         string    `json:"via,omitempty"`          // the load balancer's HOST:PORT the client came through (PROXY protocol); "" for a direct client
	Listener    string    `json:"listener,omitempty"`     // listener that accepted the client: "plain", "tls"
	Upstream    string    `json:"upstream,omitempty"`     // upstream HOST:PORT
	Local       string    `json:"local,omitempty"`        // popwire's own HOST:PORT on the leg: where the client connected (KindOpen), where the upstream connection starts (KindConnect)
	Leg         Leg       `json:"leg,omitempty"`          // KindConnect, KindTLS, KindError, KindWarning: LegClient or LegUpstream
	ClientSec   string    `json:"client_sec,omitempty"`   // client leg security: "plaintext", "tls", "stls"
	UpstreamSec string    `json:"upstream_sec,omitempty"` // upstream leg security: "tls", "stls", "plaintext"

	Verb     string `json:"verb,omitempty"`     // command keyword in upper case (KindCommand, KindPolicy)
	Answers  string `json:"answers,omitempty"`  // verb of the command a reply or body answers
	Status   string `json:"status,omitempty"`   // "+OK", "-ERR" or "+" (SASL continuation)
	Code     string `json:"code,omitempty"`     // RFC 2449 §8 response code without brackets ("IN-USE")
	Text     string `json:"text,omitempty"`     // the line without its CRLF, secrets replaced by redact.Marker
	Redacted bool   `json:"redacted,omitempty"` // Text had a secret replaced
	Revealed bool   `json:"revealed,omitempty"` // --reveal-credentials left a secret in Text
	Mech     string `json:"mech,omitempty"`     // KindSASL: mechanism name ("PLAIN")
	Step     int    `json:"step,omitempty"`     // KindSASL: 1-based step number within the exchange
	Lines    int64  `json:"lines,omitempty"`    // KindBody: body lines, terminator excluded
	Bytes    int64  `json:"bytes,omitempty"`    // KindBody: body octets as sent, terminator excluded
	Action   string `json:"action,omitempty"`   // KindPolicy: "deny", "stls", "capa-rewrite", "require-tls", "unparsed", "oauth"
	Err      string `json:"error,omitempty"`    // KindError: what failed (never holds a secret)
	Output   string `json:"output,omitempty"`   // KindDropped: the output that lost the events: "stderr", "log-file", "pcap"
	Dropped  int64  `json:"dropped,omitempty"`  // KindDropped: how many events it lost

	TLS     *TLSInfo     `json:"tls,omitempty"`     // KindTLS: the handshake; nil otherwise
	Message *MessageInfo `json:"message,omitempty"` // KindBody answering RETR or TOP: the audit; nil otherwise
	Listing *Listing     `json:"listing,omitempty"` // KindBody answering anything else: the reply's lines; nil when it had none
	Msg     int          `json:"msg,omitempty"`     // KindDelete: message number
	UID     string       `json:"uid,omitempty"`     // KindDelete: UIDL of the message when known
	Summary *Summary     `json:"summary,omitempty"` // KindClose: the session summary; nil otherwise
	Finding *Finding     `json:"finding,omitempty"` // KindFinding: the rule broken and the evidence; nil otherwise

	Extra json.RawMessage `json:"extra,omitempty"` // a JSON value for later fields; readers ignore what they do not know
}

// TLSInfo records one TLS handshake.
type TLSInfo struct {
	Version     string   `json:"version"`                // "TLS 1.3"
	Cipher      string   `json:"cipher"`                 // cipher suite name, "TLS_AES_128_GCM_SHA256"
	SNI         string   `json:"sni,omitempty"`          // server name sent (upstream) or received (client)
	PeerSubject string   `json:"peer_subject,omitempty"` // subject of the peer's leaf certificate
	PeerNames   []string `json:"peer_names,omitempty"`   // DNS names of the peer's leaf certificate
	Verified    bool     `json:"verified"`               // the peer certificate chain and name were verified
	VerifyErr   string   `json:"verify_error,omitempty"` // upstream under --insecure-skip-verify: whether the certificate would have verified
}

// MessageInfo is the per-message audit record of a RETR or TOP.
type MessageInfo struct {
	Msg       int     `json:"msg"`                  // message number
	UID       string  `json:"uid,omitempty"`        // UIDL when known from a UIDL reply in the session
	Octets    int64   `json:"octets"`               // octets of the unstuffed content
	SHA256    string  `json:"sha256,omitempty"`     // hex SHA-256 of the unstuffed content (for TOP, of what TOP returned)
	From      string  `json:"from,omitempty"`       // decoded From header
	To        string  `json:"to,omitempty"`         // decoded To header
	Cc        string  `json:"cc,omitempty"`         // decoded Cc header
	Subject   string  `json:"subject,omitempty"`    // decoded Subject header (RFC 2047 words decoded)
	Date      string  `json:"date,omitempty"`       // Date header as sent
	MessageID string  `json:"message_id,omitempty"` // Message-ID header as sent
	Top       bool    `json:"top,omitempty"`        // the content came from TOP, so it may be partial
	Content   Content `json:"content,omitzero"`     // the unstuffed content itself, only under --bodies full

	ContentTruncated bool `json:"content_truncated,omitempty"` // Content holds only the first 16 MiB
	ContentOmitted   bool `json:"content_omitted,omitempty"`   // Content was left out: the budget all sessions share for it was used up
	HeaderTruncated  bool `json:"header_truncated,omitempty"`  // the header block passed 64 KiB; fields come from what was kept
	HeaderMalformed  bool `json:"header_malformed,omitempty"`  // lines that are not header fields were skipped
}

// Listing holds the lines of a multi-line reply other than message content (CAPA, LIST, UIDL,
// AUTH, LANG, …) as the server sent them, unstuffed, secrets redacted. The recorder keeps a
// bounded prefix; the counts say what it left out.
type Listing struct {
	Lines        []string `json:"lines"`                   // the first lines; a line cut short ends in "…"
	OmittedLines int64    `json:"omitted_lines,omitempty"` // lines left out after Lines
	OmittedBytes int64    `json:"omitted_bytes,omitempty"` // bytes left out, line endings excluded: of those lines and of lines cut short
}

// Summary closes a session.
type Summary struct {
	Duration  string   `json:"duration"`            // session length, Go duration syntax ("3.2s")
	Commands  int      `json:"commands"`            // client commands seen
	BytesUp   int64    `json:"bytes_up"`            // bytes client to server
	BytesDown int64    `json:"bytes_down"`          // bytes server to client
	Retrieved []string `json:"retrieved,omitempty"` // UIDs retrieved with RETR (or "#n" when unknown)
	Deleted   []string `json:"deleted,omitempty"`   // UIDs marked with DELE (or "#n" when unknown)
	QuitSent  bool     `json:"quit_sent"`           // the client sent QUIT and it was forwarded (never sent by popwire)
	Committed bool     `json:"committed"`           // QUIT reached the server in TRANSACTION: deletions applied (RFC 1939 §6)
	Reason    string   `json:"reason,omitempty"`    // why the session ended when not by QUIT
}

// IsError reports whether e is an error as the viewer's --errors filter sees it: a -ERR reply
// or greeting, or an error, anomaly, finding or dropped event.
func (e *Event) IsError() bool {
	switch e.Kind {
	case KindError, KindAnomaly, KindFinding, KindDropped:
		return true
	case KindReply, KindGreeting:
		return e.Status == "-ERR"
	}
	return false
}
