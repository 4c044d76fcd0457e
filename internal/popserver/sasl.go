package popserver

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// saslMechanisms is the CAPA SASL list (RFC 5034 §3), in the order bare AUTH lists them.
const saslMechanisms = "PLAIN LOGIN CRAM-MD5"

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
		for _, m := range strings.Fields(saslMechanisms) {
			s.line(m)
		}
		s.end()
		return nil
	}
	mech, irText, hasIR := strings.Cut(arg, " ")
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
	switch strings.ToUpper(mech) {
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
		s.loginFailed("AUTH "+strings.ToUpper(mech), user)
	default:
		s.login("AUTH "+strings.ToUpper(mech), user)
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
