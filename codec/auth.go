package codec

import (
	"bytes"
	"strings"

	"github.com/popwire/popwire/internal/redact"
)

// Redacted is the fixed marker, "[redacted]", that replaces a secret in Auth.Safe; it does not
// reveal length. It is the marker of popwire's log too.
const Redacted = redact.Marker

// Auth describes a secret-bearing client line per the mechanism table of the reference (§3.3),
// and also a USER line, so that callers learn the user name (Mech "USER", no secret). A Frame
// with a nil Auth carries no secret. An Auth and the slices it holds are freshly allocated and
// belong to the caller; they stay valid after the next call on the Tracker.
type Auth struct {
	Mech    string   // "USER", "PASS", "APOP", "PLAIN", "LOGIN", "XOAUTH2", …, or "" for an unrecognised line
	Step    int      // 0 for the AUTH line or initial response, then 1, 2, … per client answer
	User    string   // the identity that is safe to show (user, authcid, authzid), "" when none
	Names   []string // every identity Safe shows (User, an authzid, …), decoded, for hiding user names
	Safe    string   // the whole line rendered for logs with every secret replaced by Redacted
	Secrets [][]byte // every secret as it appears on the wire and decoded (for taint checks on the next server line); never empty slices
}

// addSecret appends a copy of s to a.Secrets unless s is empty or already there.
func (a *Auth) addSecret(s []byte) {
	if len(s) == 0 {
		return
	}
	for _, have := range a.Secrets {
		if bytes.Equal(have, s) {
			return
		}
	}
	a.Secrets = append(a.Secrets, bytes.Clone(s))
}

// userAuth describes "USER name" (RFC 1939 §7): the name is not a secret.
func userAuth(c Command) *Auth {
	a := &Auth{Mech: "USER", User: c.Arg, Safe: c.String()}
	if c.Arg != "" {
		a.Names = []string{c.Arg}
	}
	return a
}

// passAuth describes "PASS string" (RFC 1939 §7). The secret is everything after the keyword
// and its one separator, spaces included; user is the name of the last USER command.
func passAuth(line []byte, user string) *Auth {
	a := &Auth{Mech: "PASS", User: user, Safe: "PASS"}
	_, raw := splitKeyword(line)
	if len(raw) == 0 {
		return a
	}
	a.Safe = "PASS " + Redacted
	a.addSecret(raw)
	a.addSecret(trimBlanks(raw))
	return a
}

// apopAuth describes "APOP name digest" (RFC 1939 §7): the digest is secret (offline
// crackable with the greeting's timestamp), the name is not. A truncated line or one
// without two fields is secret after the keyword.
func apopAuth(line []byte, truncated bool) *Auth {
	a := &Auth{Mech: "APOP", Safe: "APOP"}
	_, rest := splitKeyword(line)
	rest = trimBlanks(rest)
	if len(rest) == 0 {
		return a
	}
	name, digest := splitKeyword(rest)
	digest = trimBlanks(digest)
	if truncated || len(digest) == 0 {
		a.Safe = "APOP " + Redacted
		a.addSecret(rest)
		return a
	}
	a.User = string(name)
	a.Names = []string{a.User}
	a.Safe = "APOP " + a.User + " " + Redacted
	a.addSecret(digest)
	return a
}

// unknownAuth describes a client line in AUTHORIZATION that starts with no known keyword
// (reference §3.2 rule 5): it may be mis-framed SASL data, so all of it is secret, except the
// never-secret lines "", "*" and "=".
func unknownAuth(line []byte) *Auth {
	if isNeverSecret(line) {
		return &Auth{Safe: string(line)}
	}
	a := &Auth{Safe: Redacted}
	a.addSecret(line)
	return a
}

// heldAuth describes a held line: until it is classified it may be SASL data, so all of it is
// secret.
func heldAuth(line []byte, mech string) *Auth {
	a := unknownAuth(line)
	a.Mech = mech
	return a
}

// isNeverSecret reports whether line is one of the lines that never carry a secret: the empty
// answer, the "*" cancel and the "=" empty initial response (RFC 5034 §4).
func isNeverSecret(line []byte) bool {
	return len(line) == 0 || string(line) == "*" || string(line) == "="
}

// safeCommand returns c with its argument replaced by the safe rendering of a, for frames that
// carry a secret: an unrecognised line keeps no verb.
func safeCommand(c Command, a *Auth) Command {
	if a == nil {
		return c
	}
	if a.Mech == "" || !isKnownVerb(c.Verb) {
		return Command{Arg: a.Safe}
	}
	return Command{Verb: c.Verb, Arg: strings.TrimPrefix(strings.TrimPrefix(a.Safe, c.Verb), " ")}
}
