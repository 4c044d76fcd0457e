// CONTRACT SKETCH — written by the lead so that proxy/ can emit events while logview/ is being
// built. The logview owner refines this file (doc comments, helpers) and may ADD fields and
// kinds; renaming or removing anything below must be announced to the lead first.

package logview

import (
	"encoding/json"
	"time"
)

// Version is the schema version written in every event's "v" field.
const Version = 1

// Kind names what an Event records. Kinds are strings on the wire so that old logs stay
// readable by new binaries.
type Kind string

const (
	KindOpen     Kind = "open"     // session opened: Client, Listener, ClientSec, Upstream
	KindTLS      Kind = "tls"      // TLS established on one leg: Leg, TLS
	KindGreeting Kind = "greeting" // upstream greeting: Text, Status, Code
	KindCommand  Kind = "command"  // client command: Verb, Text (redacted), Redacted
	KindReply    Kind = "reply"    // server status line: Status, Code, Text, Answers
	KindBody     Kind = "body"     // end of a multi-line reply: Answers, Lines, Bytes (+ Message for RETR/TOP)
	KindSASL     Kind = "sasl"     // SASL step: Dir, Mech, Step, Text (redacted), Redacted
	KindPolicy   Kind = "policy"   // a local answer or rewrite: Action, Verb, Text
	KindAnomaly  Kind = "anomaly"  // non-conformant input framing survived: Text
	KindError    Kind = "error"    // something failed: Err (never holds a secret)
	KindDelete   Kind = "delete"   // DELE accepted by the server: Msg, UID
	KindClose    Kind = "close"    // session ended: Summary
	KindWarning  Kind = "warning"  // process-level warning (insecure flags, log trouble)
)

// Event is the one log record: the JSON log, the terminal printer and the viewer all use it.
// Zero-valued fields are omitted from JSON.
type Event struct {
	V           int       `json:"v"`
	Time        time.Time `json:"time"` // UTC; written as RFC 3339 with nanoseconds
	Session     string    `json:"session,omitempty"`
	Kind        Kind      `json:"kind"`
	Dir         string    `json:"dir,omitempty"` // "c2s" (client to server), "s2c", "local" (popwire answered)
	User        string    `json:"user,omitempty"`
	Client      string    `json:"client,omitempty"`       // client address
	Listener    string    `json:"listener,omitempty"`     // "plain", "tls"
	Upstream    string    `json:"upstream,omitempty"`     // upstream HOST:PORT
	Leg         string    `json:"leg,omitempty"`          // "client" or "upstream"
	ClientSec   string    `json:"client_sec,omitempty"`   // "plaintext", "tls", "stls"
	UpstreamSec string    `json:"upstream_sec,omitempty"` // "tls", "stls", "plaintext"

	Verb     string `json:"verb,omitempty"`    // command keyword (KindCommand, KindPolicy) or the command answered
	Answers  string `json:"answers,omitempty"` // verb of the command a reply or body answers
	Status   string `json:"status,omitempty"`  // "+OK", "-ERR", "+"
	Code     string `json:"code,omitempty"`    // RFC 2449 response code
	Text     string `json:"text,omitempty"`    // the line, already redacted
	Redacted bool   `json:"redacted,omitempty"`
	Revealed bool   `json:"revealed,omitempty"` // --reveal-credentials put a secret in Text
	Mech     string `json:"mech,omitempty"`
	Step     int    `json:"step,omitempty"`
	Lines    int64  `json:"lines,omitempty"`
	Bytes    int64  `json:"bytes,omitempty"`
	Action   string `json:"action,omitempty"` // KindPolicy: "deny", "stls", "capa-rewrite", "require-tls"
	Err      string `json:"error,omitempty"`

	TLS     *TLSInfo     `json:"tls,omitempty"`
	Message *MessageInfo `json:"message,omitempty"`
	Msg     int          `json:"msg,omitempty"` // message number (KindDelete)
	UID     string       `json:"uid,omitempty"`
	Summary *Summary     `json:"summary,omitempty"`

	Extra json.RawMessage `json:"extra,omitempty"` // room for later fields; readers ignore unknown ones
}

// TLSInfo records one TLS handshake.
type TLSInfo struct {
	Version     string   `json:"version"`
	Cipher      string   `json:"cipher"`
	SNI         string   `json:"sni,omitempty"`
	PeerSubject string   `json:"peer_subject,omitempty"`
	PeerNames   []string `json:"peer_names,omitempty"`
	Verified    bool     `json:"verified"`
	VerifyErr   string   `json:"verify_error,omitempty"`
}

// MessageInfo is the per-message audit record of a RETR or TOP.
type MessageInfo struct {
	Msg       int    `json:"msg"`
	UID       string `json:"uid,omitempty"`
	Octets    int64  `json:"octets"`
	SHA256    string `json:"sha256,omitempty"` // of the unstuffed content; RETR only
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Date      string `json:"date,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	Top       bool   `json:"top,omitempty"`
}

// Summary closes a session.
type Summary struct {
	Duration  string   `json:"duration"`
	Commands  int      `json:"commands"`
	BytesUp   int64    `json:"bytes_up"`
	BytesDown int64    `json:"bytes_down"`
	Retrieved []string `json:"retrieved,omitempty"` // UIDs (or "#n" when unknown)
	Deleted   []string `json:"deleted,omitempty"`
	Committed bool     `json:"committed"` // QUIT reached the server in TRANSACTION: deletions applied
	Reason    string   `json:"reason,omitempty"`
}

// Sink receives events. Implementations are safe for concurrent use.
type Sink interface {
	Emit(Event) error
}
