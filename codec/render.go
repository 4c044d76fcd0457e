package codec

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
)

// render builds the safe rendering of one piece of decoded client data: space-separated
// key=value fields with secrets replaced by Redacted, the safe identity, every identity the
// rendering shows, and the secrets.
type render struct {
	parts   []string
	user    string
	names   []string
	secrets [][]byte
}

// String returns the rendering.
func (r *render) String() string { return strings.Join(r.parts, " ") }

// add appends one literal field.
func (r *render) add(s string) { r.parts = append(r.parts, s) }

// field appends key="value", or nothing for an empty value unless always is set.
func (r *render) field(key string, value []byte, always bool) {
	if len(value) > 0 || always {
		r.add(key + "=" + strconv.Quote(string(value)))
	}
}

// name records an identity the rendering shows.
func (r *render) name(n string) {
	if n != "" && !slices.Contains(r.names, n) {
		r.names = append(r.names, n)
	}
}

// secretField appends key=[redacted] and records value as a secret.
func (r *render) secretField(key string, value []byte) {
	r.add(key + "=" + Redacted)
	if len(value) > 0 {
		r.secrets = append(r.secrets, value)
	}
}

// whole treats all of dec as secret.
func (r *render) whole(dec []byte) {
	r.parts, r.user, r.names = []string{Redacted}, "", nil
	r.secrets = append(r.secrets, dec)
}

// plain renders "[authzid] NUL authcid NUL passwd" (RFC 4616 §2).
func (r *render) plain(dec []byte) {
	f := bytes.SplitN(dec, []byte{0}, 3)
	if len(f) != 3 {
		r.whole(dec)
		return
	}
	r.field("authzid", f[0], false)
	r.field("authcid", f[1], true)
	r.secretField("password", f[2])
	r.user = string(f[1])
	r.name(string(f[0]))
	r.name(r.user)
}

// login renders LOGIN answers (draft-murchison-sasl-login §2): the first is the user name,
// the second the password; challenge texts vary, so answers are counted.
func (r *render) login(dec []byte, n int) {
	switch n {
	case 1:
		r.field("username", dec, true)
		r.user = string(dec)
		r.name(r.user)
	case 2:
		r.secretField("password", dec)
	default:
		r.whole(dec)
	}
}

// cramMD5 renders "user SP digest" (RFC 2195 §2); the HMAC digest is dictionary-attackable.
func (r *render) cramMD5(dec []byte, n int) {
	i := bytes.LastIndexByte(dec, ' ')
	if n != 1 || i < 0 {
		r.whole(dec)
		return
	}
	r.field("user", dec[:i], true)
	r.secretField("digest", dec[i+1:])
	r.user = string(dec[:i])
	r.name(r.user)
}

// xoauth2 renders "user=U ^A auth=Bearer T ^A ^A" (Google's XOAUTH2); every field but user is
// secret.
func (r *render) xoauth2(dec []byte) {
	found := false
	for _, kv := range bytes.Split(dec, []byte{1}) {
		if len(kv) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(kv, []byte("="))
		if !ok || !isToken(k) {
			r.whole(dec)
			return
		}
		if string(k) == "user" {
			r.field("user", v, true)
			r.user = string(v)
			r.name(r.user)
			found = true
			continue
		}
		r.bearer(string(k), v)
	}
	if !found {
		r.whole(dec)
	}
}

// bearer records an "auth=Bearer T" style value as secret, the token on its own too.
func (r *render) bearer(key string, v []byte) {
	r.secretField(key, v)
	if _, tok, ok := bytes.Cut(v, []byte(" ")); ok && len(tok) > 0 {
		r.secrets = append(r.secrets, tok)
	}
}

// oauthBearer renders RFC 7628 §3.1 client data: a GS2 header "n,a=U," then ^A-separated
// key=value pairs; auth is secret, host and port are not. A lone ^A is the error
// acknowledgement of §3.2.3.
func (r *render) oauthBearer(dec []byte) {
	if string(dec) == "\x01" {
		r.add("error-ack")
		return
	}
	f := bytes.Split(dec, []byte{1})
	gs2 := f[0]
	if len(f) < 2 || !isGS2Header(gs2) {
		r.whole(dec)
		return
	}
	r.field("gs2", gs2, true)
	for _, attr := range bytes.Split(gs2, []byte(",")) {
		if v, ok := bytes.CutPrefix(attr, []byte("a=")); ok {
			r.user = saslName(v)
			r.name(r.user)
		}
	}
	for _, kv := range f[1:] {
		if len(kv) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(kv, []byte("="))
		if !ok || !isToken(k) {
			r.whole(dec)
			return
		}
		switch string(k) {
		case "host", "port":
			r.field(string(k), v, true)
		default:
			r.bearer(string(k), v)
		}
	}
}

// saslName decodes the "=2C" and "=3D" escapes of RFC 5802 §5.1 / RFC 7628 §3.1.
func saslName(v []byte) string {
	s := strings.ReplaceAll(string(v), "=2C", ",")
	return strings.ReplaceAll(s, "=3D", "=")
}

// scram renders SCRAM client messages (RFC 5802 §5): client-first is safe (user, authzid,
// nonce); client-final carries the proof and is kept secret whole, as is anything later.
func (r *render) scram(dec []byte, n int) {
	if n != 1 {
		r.whole(dec)
		return
	}
	if !isGS2Header(dec) {
		r.whole(dec)
		return
	}
	r.field("client-first", dec, true)
	for _, attr := range bytes.Split(dec, []byte(",")) {
		if v, ok := bytes.CutPrefix(attr, []byte("n=")); ok {
			r.user = saslName(v)
			r.name(r.user)
		} else if v, ok := bytes.CutPrefix(attr, []byte("a=")); ok {
			r.name(saslName(v))
		}
	}
}

// digestMD5 renders the DIGEST-MD5 digest-response (RFC 2831 §2.1.2): every directive but
// response is shown; anything else the client sends later is secret unless empty.
func (r *render) digestMD5(dec []byte, n int) {
	kvs, ok := directives(dec)
	if n != 1 || !ok {
		r.whole(dec)
		return
	}
	for _, kv := range kvs {
		if !isToken([]byte(kv[0])) {
			r.whole(dec)
			return
		}
	}
	for _, kv := range kvs {
		if strings.EqualFold(kv[0], "response") {
			r.secretField(kv[0], []byte(kv[1]))
			continue
		}
		r.field(kv[0], []byte(kv[1]), true)
		switch {
		case strings.EqualFold(kv[0], "username"):
			r.user = kv[1]
			r.name(r.user)
		case strings.EqualFold(kv[0], "authzid"):
			r.name(kv[1])
		}
	}
}

// directives parses a comma-separated list of key=value or key="quoted value" (RFC 2831 §7.1).
func directives(b []byte) ([][2]string, bool) {
	var out [][2]string
	s := string(b)
	for s != "" {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, false
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+1:]
		var val strings.Builder
		if strings.HasPrefix(s, `"`) {
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, false
			}
			s = s[i+1:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val.WriteString(strings.TrimSpace(s[:end]))
			s = s[end:]
		}
		out = append(out, [2]string{key, val.String()})
	}
	return out, len(out) > 0
}

// isToken reports whether k is a plausible attribute name: 1 to 32 letters, digits, '-' or '_'.
// Anything else might be secret data and is never shown.
func isToken(k []byte) bool {
	if len(k) == 0 || len(k) > 32 {
		return false
	}
	for _, c := range k {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// isGS2Header reports whether b starts with a GS2 header: "n,", "y," or "p=…," then an optional
// "a=authzid" and a comma (RFC 5801 §4, RFC 5802 §7).
func isGS2Header(b []byte) bool {
	cb, rest, ok := bytes.Cut(b, []byte(","))
	if !ok || !(string(cb) == "n" || string(cb) == "y" || bytes.HasPrefix(cb, []byte("p="))) {
		return false
	}
	authz, _, ok := bytes.Cut(rest, []byte(","))
	return ok && (len(authz) == 0 || bytes.HasPrefix(authz, []byte("a=")))
}
