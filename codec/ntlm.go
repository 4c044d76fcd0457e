package codec

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
)

// ntlmSignature starts every NTLM message (MS-NLMP §2.2.1).
var ntlmSignature = []byte("NTLMSSP\x00")

// ntlm renders an NTLM client message (MS-NLMP §2.2.1, carried over POP3 per MS-OXPOP3 §2.2.1):
// a NEGOTIATE (type 1) holds no secret; an AUTHENTICATE (type 3) holds the LM/NT responses,
// which are crackable or relayable, and is secret as a whole; only its domain, user and
// workstation names are shown. Anything else is secret.
func (r *render) ntlm(dec []byte) {
	if len(dec) < 12 || !bytes.HasPrefix(dec, ntlmSignature) {
		r.whole(dec)
		return
	}
	switch binary.LittleEndian.Uint32(dec[8:]) {
	case 1:
		r.add("NTLM negotiate (type 1)")
	case 3:
		if len(dec) < 64 {
			r.whole(dec)
			return
		}
		unicode := binary.LittleEndian.Uint32(dec[60:])&1 != 0
		domain := ntlmField(dec, 28, unicode)
		user := ntlmField(dec, 36, unicode)
		ws := ntlmField(dec, 44, unicode)
		r.add("NTLM authenticate (type 3)")
		r.field("domain", []byte(domain), false)
		r.field("user", []byte(user), true)
		r.field("workstation", []byte(ws), false)
		r.secretField("responses", dec)
		r.user = user
		r.name(user)
		if domain != "" {
			r.user = domain + `\` + user
		}
	default:
		r.whole(dec)
	}
}

// ntlmField reads the security buffer (length, max length, offset) at off in msg and decodes
// it as UTF-16LE or OEM bytes; a buffer outside msg yields "".
func ntlmField(msg []byte, off int, unicode bool) string {
	n := int(binary.LittleEndian.Uint16(msg[off:]))
	at := int(binary.LittleEndian.Uint32(msg[off+4:]))
	if at < 0 || n < 0 || at > len(msg) || n > len(msg)-at {
		return ""
	}
	b := msg[at : at+n]
	if !unicode {
		return string(b)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
