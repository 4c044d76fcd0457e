package oauth

import "encoding/base64"

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
	return base64.StdEncoding.EncodeToString(raw)
}
