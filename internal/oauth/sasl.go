package oauth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Mechanism is the SASL mechanism that carries a bearer token upstream. The zero value is
// XOAUTH2.
type Mechanism int

// The mechanisms popwire speaks upstream.
const (
	// XOAUTH2 is Google's and Microsoft's mechanism
	// (https://developers.google.com/gmail/imap/xoauth2-protocol).
	XOAUTH2 Mechanism = iota
	// OAUTHBEARER is the standard one (RFC 7628).
	OAUTHBEARER
)

// String returns the mechanism's SASL name, as it appears after AUTH.
func (m Mechanism) String() string {
	if m == OAUTHBEARER {
		return "OAUTHBEARER"
	}
	return "XOAUTH2"
}

// InitialResponse returns the base64 client response that logs user in with token: for
// XOAUTH2 "user=USER^Aauth=Bearer TOKEN^A^A", for OAUTHBEARER the GS2 header
// "n,a=USER," followed by "^Aauth=Bearer TOKEN^A^A" (RFC 7628 §3.1; ',' and '=' in the
// name escaped as RFC 5801 §5 says). The result is a secret.
func (m Mechanism) InitialResponse(user, token string) string {
	return base64.StdEncoding.EncodeToString(m.message(user, token))
}

// Respond returns InitialResponse(user, token) and every form of token that sending it makes
// known, for a scrubber: the token, its base64, the response and the message it encodes. All
// of them are secrets.
func (m Mechanism) Respond(user, token string) (response string, secrets []string) {
	raw := m.message(user, token)
	response = base64.StdEncoding.EncodeToString(raw)
	return response, []string{token, base64.StdEncoding.EncodeToString([]byte(token)), response, string(raw)}
}

// message returns the client message that InitialResponse encodes.
func (m Mechanism) message(user, token string) []byte {
	var raw []byte
	if m == OAUTHBEARER {
		raw = append(raw, "n,a="...)
		for i := 0; i < len(user); i++ {
			switch user[i] {
			case ',':
				raw = append(raw, "=2C"...)
			case '=':
				raw = append(raw, "=3D"...)
			default:
				raw = append(raw, user[i])
			}
		}
		raw = append(raw, ",\x01auth=Bearer "...)
	} else {
		raw = append(raw, "user="...)
		raw = append(raw, user...)
		raw = append(raw, "\x01auth=Bearer "...)
	}
	raw = append(raw, token...)
	raw = append(raw, "\x01\x01"...)
	return raw
}

// ErrorAnswer returns the base64 client answer to the error challenge of a refused token,
// after which the server sends its -ERR: empty for XOAUTH2, %x01 for OAUTHBEARER (RFC 7628
// §3.2.3).
func (m Mechanism) ErrorAnswer() string {
	if m == OAUTHBEARER {
		return "AQ=="
	}
	return ""
}

// ErrorChallenge reads the error challenge of a refused bearer token, the base64 JSON a
// server sends after "+ " (RFC 7628 §3.2.2; Google's XOAUTH2 sends the same object): its
// status and scope. ok is false when b64 (surrounding space ignored) is not base64 JSON. Both
// values come from the server: bound them before showing them.
func ErrorChallenge(b64 string) (status, scope string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	var v struct {
		Status string `json:"status"`
		Scope  string `json:"scope"`
	}
	if err != nil || json.Unmarshal(raw, &v) != nil {
		return "", "", false
	}
	return v.Status, v.Scope, true
}
