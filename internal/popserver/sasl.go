package popserver

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
)

// saslMechanisms is the CAPA SASL list (RFC 5034 §3), in the order bare AUTH lists them;
// bearerMechanisms follow when Server.CheckToken is set.
const (
	saslMechanisms   = "PLAIN LOGIN CRAM-MD5"
	bearerMechanisms = "XOAUTH2 OAUTHBEARER"
)

// microsoftOneLine is what Microsoft's POP servers answer to AUTH XOAUTH2 with an initial
// response, before they close the connection.
const microsoftOneLine = "Protocol error. Connection is closed. 10"

// errOneLineXOAUTH2 ends a session refused the way Server.RejectInitialXOAUTH2 asks.
var errOneLineXOAUTH2 = errors.New("popserver: one-line AUTH XOAUTH2 refused")

// mechanisms returns the SASL mechanisms this server offers, space-separated.
func (s *Server) mechanisms() string {
	if s.CheckToken != nil {
		return saslMechanisms + " " + bearerMechanisms
	}
	return saslMechanisms
}

// errSASLCancelled and errSASLBase64 end one AUTH exchange with -ERR; the session goes on.
var (
	errSASLCancelled = errors.New("popserver: authentication cancelled")
	errSASLBase64    = errors.New("popserver: invalid base64")
)

// cmdAuth answers AUTH (RFC 5034 §4). Bare AUTH lists the mechanisms, one per line, as Dovecot
// does for Outlook's discovery. "*" cancels; "=" is an empty initial response. It returns an
// error only when the transport fails mid-exchange.
func (s *session) cmdAuth(arg string) error {
	if arg == "" {
		s.ok("")
		for _, m := range strings.Fields(s.srv.mechanisms()) {
			s.line(m)
		}
		s.end()
		return nil
	}
	mech, irText, hasIR := strings.Cut(arg, " ")
	mech = strings.ToUpper(mech)
	if mech == "XOAUTH2" && hasIR && s.srv.RejectInitialXOAUTH2 && s.srv.CheckToken != nil {
		s.err(microsoftOneLine)
		if err := s.flush(); err != nil {
			return err
		}
		return errOneLineXOAUTH2
	}
	var ir []byte
	if hasIR {
		var err error
		if ir, err = decodeSASL(irText); err != nil {
			s.err("Invalid base64 data in initial response.")
			return nil
		}
	}
	var user string
	var ok bool
	var err error
	switch mech {
	case "XOAUTH2", "OAUTHBEARER":
		if s.srv.CheckToken == nil {
			s.err("Unsupported authentication mechanism.")
			return nil
		}
		user, ok, err = s.saslBearer(mech, ir, hasIR)
	case "PLAIN":
		user, ok, err = s.saslPlain(ir, hasIR)
	case "LOGIN":
		user, ok, err = s.saslLogin(ir, hasIR)
	case "CRAM-MD5":
		if hasIR {
			s.err("CRAM-MD5 takes no initial response.")
			return nil
		}
		user, ok, err = s.saslCRAMMD5()
	default:
		s.err("Unsupported authentication mechanism.")
		return nil
	}
	switch {
	case errors.Is(err, errSASLCancelled):
		s.err("Authentication cancelled.")
	case errors.Is(err, errSASLBase64):
		s.err("Invalid base64 data in continued response.")
	case err != nil:
		return err
	case !ok:
		s.loginFailed("AUTH "+mech, user)
	default:
		s.login("AUTH "+mech, user)
	}
	return nil
}

// saslPlain runs PLAIN (RFC 4616 §2): authzid NUL authcid NUL passwd. An authzid other than
// the authcid is refused, since nobody here may act for another user.
func (s *session) saslPlain(ir []byte, hasIR bool) (string, bool, error) {
	msg := ir
	if !hasIR {
		var err error
		if msg, err = s.challenge(""); err != nil {
			return "", false, err
		}
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", false, nil
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		return user, false, nil
	}
	return user, s.checkPassword(user, pass), nil
}

// saslLogin runs LOGIN (draft-murchison-sasl-login-00): the user name (possibly the initial
// response), then the password, each after its challenge.
func (s *session) saslLogin(ir []byte, hasIR bool) (string, bool, error) {
	user := ir
	if !hasIR {
		var err error
		if user, err = s.challenge("VXNlcm5hbWU6"); err != nil {
			return "", false, err
		}
	}
	pass, err := s.challenge("UGFzc3dvcmQ6")
	if err != nil {
		return string(user), false, err
	}
	return string(user), s.checkPassword(string(user), string(pass)), nil
}

// saslCRAMMD5 runs CRAM-MD5 (RFC 2195 §2): the client answers "user SP hex(HMAC-MD5(password,
// challenge))".
func (s *session) saslCRAMMD5() (string, bool, error) {
	stamp := s.timestamp()
	resp, err := s.challenge(base64.StdEncoding.EncodeToString([]byte(stamp)))
	if err != nil {
		return "", false, err
	}
	i := bytes.LastIndexByte(resp, ' ')
	if i < 0 {
		return "", false, nil
	}
	user, digest := string(resp[:i]), resp[i+1:]
	pass, known := s.srv.Users[user]
	mac := hmac.New(md5.New, []byte(pass))
	mac.Write([]byte(stamp))
	want := hex.EncodeToString(mac.Sum(nil))
	return user, hmac.Equal([]byte(want), digest) && known, nil
}

// saslBearer runs XOAUTH2 (https://developers.google.com/gmail/imap/xoauth2-protocol) or
// OAUTHBEARER (RFC 7628 §3): the client's message after an empty challenge, or as the initial
// response. A refused token gets the error challenge, a base64 JSON object, which the client
// must answer (XOAUTH2: an empty line; OAUTHBEARER: %x01, RFC 7628 §3.2.3) before the -ERR.
func (s *session) saslBearer(mech string, ir []byte, hasIR bool) (string, bool, error) {
	msg := ir
	if !hasIR {
		var err error
		if msg, err = s.challenge(""); err != nil {
			return "", false, err
		}
	}
	parse, status := parseXOAUTH2, "401"
	if mech == "OAUTHBEARER" {
		parse, status = parseOAUTHBEARER, "invalid_token"
	}
	user, token, ok := parse(string(msg))
	if !ok {
		return user, false, nil
	}
	if s.srv.CheckToken(user, token) {
		return user, true, nil
	}
	_, err := s.challenge(base64.StdEncoding.EncodeToString(s.srv.bearerError(mech, status)))
	return user, false, err
}

// bearerError is the JSON of a refused token: Google's {"status","schemes","scope"} for
// XOAUTH2, RFC 7628 §3.2.2's {"status","scope"} for OAUTHBEARER.
func (s *Server) bearerError(mech, status string) []byte {
	scope := s.TokenScope
	if scope == "" {
		scope = "https://mail.google.com/"
	}
	var v any = struct {
		Status  string `json:"status"`
		Schemes string `json:"schemes"`
		Scope   string `json:"scope"`
	}{status, "Bearer", scope}
	if mech == "OAUTHBEARER" {
		v = struct {
			Status string `json:"status"`
			Scope  string `json:"scope"`
		}{status, scope}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // two strings always marshal
	}
	return b
}

// parseXOAUTH2 reads "user=USER^Aauth=Bearer TOKEN^A^A".
func parseXOAUTH2(msg string) (user, token string, ok bool) {
	kv, ok := saslPairs(msg)
	if !ok {
		return "", "", false
	}
	user = kv["user"]
	token, ok = bearerToken(kv["auth"])
	return user, token, ok && user != ""
}

// parseOAUTHBEARER reads RFC 7628 §3.1's message: a GS2 header "n,a=USER," without channel
// binding (RFC 5801 §4; the authzid escapes ',' as =2C and '=' as =3D), then key=value pairs
// each ended by ^A, then ^A. The authzid is required here: it names the maildrop.
func parseOAUTHBEARER(msg string) (user, token string, ok bool) {
	header, rest, found := strings.Cut(msg, "\x01")
	if !found {
		return "", "", false
	}
	parts := strings.Split(header, ",")
	if len(parts) != 3 || (parts[0] != "n" && parts[0] != "y") || parts[2] != "" {
		return "", "", false
	}
	name, found := strings.CutPrefix(parts[1], "a=")
	if !found {
		return "", "", false
	}
	if user, ok = unescapeSASLName(name); !ok || user == "" {
		return "", "", false
	}
	kv, ok := saslPairs(rest)
	if !ok {
		return user, "", false
	}
	token, ok = bearerToken(kv["auth"])
	return user, token, ok
}

// saslPairs reads "key=value^A"… followed by a final ^A (RFC 7628 §3.1 kvpairs); a repeated
// key is refused.
func saslPairs(msg string) (map[string]string, bool) {
	body, found := strings.CutSuffix(msg, "\x01")
	if !found {
		return nil, false
	}
	kv := map[string]string{}
	if body == "" {
		return kv, true
	}
	body, found = strings.CutSuffix(body, "\x01")
	if !found {
		return nil, false
	}
	for _, pair := range strings.Split(body, "\x01") {
		k, v, found := strings.Cut(pair, "=")
		if _, dup := kv[k]; !found || k == "" || dup {
			return nil, false
		}
		kv[k] = v
	}
	return kv, true
}

// bearerToken takes the token out of an "auth" value, "Bearer TOKEN" (RFC 6750 §2.1; the
// scheme is case-insensitive).
func bearerToken(auth string) (string, bool) {
	scheme, token, found := strings.Cut(auth, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// unescapeSASLName undoes RFC 5801 §5's escaping of a saslname: "=2C" is ',' and "=3D" is
// '='; any other '=' and a bare ',' are invalid.
func unescapeSASLName(name string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch {
		case name[i] == ',':
			return "", false
		case name[i] != '=':
			b.WriteByte(name[i])
		case strings.HasPrefix(name[i:], "=2C"):
			b.WriteByte(',')
			i += 2
		case strings.HasPrefix(name[i:], "=3D"):
			b.WriteByte('=')
			i += 2
		default:
			return "", false
		}
	}
	return b.String(), true
}

// challenge sends "+ b64" (RFC 5034 §4) and returns the client's decoded answer.
func (s *session) challenge(b64 string) ([]byte, error) {
	s.w.WriteString("+ ")
	s.w.WriteString(b64)
	s.w.WriteString("\r\n")
	line, err := s.readLine()
	if err != nil {
		return nil, err
	}
	s.armWrite()
	if string(line) == "*" {
		return nil, errSASLCancelled
	}
	return decodeSASL(string(line))
}

// decodeSASL decodes strict base64 (RFC 5034 §4); "=" is the empty initial response (§5).
func decodeSASL(text string) ([]byte, error) {
	if text == "=" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.Strict().DecodeString(text)
	if err != nil {
		return nil, errSASLBase64
	}
	return b, nil
}
