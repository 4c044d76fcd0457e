package codec

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// saslSession follows one AUTH exchange (RFC 5034 §4) from "AUTH mech" to its final reply.
// The zero value is no exchange.
type saslSession struct {
	open      bool   // an AUTH mech is outstanding
	challenge bool   // a continuation arrived and the client has not answered it yet
	mech      string // mechanism name in upper case
	answers   int    // client data so far, the initial response included ("*" excluded)
	steps     int    // client lines after the AUTH line
	cancelled bool   // the client answered "*"
}

// start opens an exchange for mech.
func (s *saslSession) start(mech string) { *s = saslSession{open: true, mech: mech} }

// minAnswers is how many client answers mech needs before a server can accept it. A "+OK"
// that comes earlier still ends the exchange (RFC 5034 §4: only "+" continues it), but the
// lines after it may be SASL data all the same (Exchange 2003 answered AUTH NTLM so, MailKit
// #391), so they stay secret. 0 means the codec does not guess.
func minAnswers(mech string) int {
	switch {
	case mech == "LOGIN", mech == "NTLM", strings.HasPrefix(mech, "SCRAM-"):
		return 2
	case mech == "PLAIN", mech == "CRAM-MD5", mech == "XOAUTH2", mech == "OAUTHBEARER",
		mech == "DIGEST-MD5", mech == "GSSAPI":
		return 1
	}
	return 0
}

// hasSecurityLayer reports whether mech may negotiate a SASL security layer (RFC 5034 §4),
// after which the stream is no longer text.
func hasSecurityLayer(mech string) bool {
	switch mech {
	case "GSSAPI", "DIGEST-MD5", "KERBEROS_V4":
		return true
	}
	return !isNamedMech(mech)
}

// isNamedMech reports whether the codec knows what is secret in mech's client data.
func isNamedMech(mech string) bool {
	switch mech {
	case "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER", "DIGEST-MD5", "NTLM", "GSSAPI",
		"EXTERNAL", "ANONYMOUS":
		return true
	}
	return strings.HasPrefix(mech, "SCRAM-")
}

// authLine describes "AUTH mech [initial-response]" (RFC 5034 §4) and opens the exchange in s.
// A line cut by the line cap keeps only the mechanism if it is whole, and all the rest is
// secret.
func (s *saslSession) authLine(c Command, line []byte, truncated bool) *Auth {
	_, rest := splitKeyword(line)
	rest = trimBlanks(rest)
	mechb, ir := splitKeyword(rest)
	ir = trimBlanks(ir)
	if truncated && len(ir) == 0 {
		s.start("")
		a := &Auth{Safe: "AUTH " + Redacted}
		a.addSecret(rest)
		return a
	}
	mech := strings.ToUpper(string(mechb))
	s.start(mech)
	a := &Auth{Mech: mech, Safe: "AUTH " + mech}
	if len(ir) == 0 {
		return a
	}
	s.answer(a, ir, truncated)
	a.Safe = "AUTH " + mech + " " + a.Safe
	return a
}

// clientLine describes a client answer (one SASL line after a challenge) and counts it.
func (s *saslSession) clientLine(line []byte, truncated bool) *Auth {
	s.steps++
	s.challenge = false
	a := &Auth{Mech: s.mech, Step: s.steps}
	s.answer(a, line, truncated)
	return a
}

// answer fills a.Safe, a.User, a.Names and a.Secrets for one piece of client data on the wire: an
// initial response or an answer. "*", "=" and "" are never secret; data that is cut, not
// strict base64 (RFC 5034 §4) or of an unknown mechanism is secret as a whole.
func (s *saslSession) answer(a *Auth, wire []byte, truncated bool) {
	if string(wire) == "*" {
		a.Safe = "*"
		s.cancelled = true
		return
	}
	s.answers++
	if len(wire) == 0 || string(wire) == "=" {
		a.Safe = string(wire)
		return
	}
	dec, err := base64.StdEncoding.Strict().DecodeString(string(wire))
	if truncated || err != nil {
		a.Safe = Redacted
		a.addSecret(wire)
		return
	}
	r := render{}
	switch {
	case s.mech == "PLAIN":
		r.plain(dec)
	case s.mech == "LOGIN":
		r.login(dec, s.answers)
	case s.mech == "CRAM-MD5":
		r.cramMD5(dec, s.answers)
	case s.mech == "XOAUTH2":
		r.xoauth2(dec)
	case s.mech == "OAUTHBEARER":
		r.oauthBearer(dec)
	case strings.HasPrefix(s.mech, "SCRAM-"):
		r.scram(dec, s.answers)
	case s.mech == "DIGEST-MD5":
		r.digestMD5(dec, s.answers)
	case s.mech == "NTLM":
		r.ntlm(dec)
	case s.mech == "EXTERNAL":
		r.field("authzid", dec, true)
		r.user = string(dec)
		r.name(r.user)
	case s.mech == "ANONYMOUS":
		r.secretField("trace", dec)
	case s.mech == "GSSAPI":
		r.secretField("token", dec)
		r.add("(" + strconv.Itoa(len(dec)) + " bytes)")
	default:
		r.whole(dec)
	}
	a.Safe, a.User, a.Names = r.String(), r.user, r.names
	if len(r.secrets) > 0 {
		a.addSecret(wire)
		for _, sec := range r.secrets {
			a.addSecret(sec)
		}
	}
}
