// Package redact takes secrets and user names out of texts before they reach an output: the
// log, a probe report. What is secret in a client line is the codec's to say (codec.Auth names
// the secrets of each line it renders); a Scrubber remembers them, and the user names to hide,
// and replaces them wherever a later text holds them: a server that echoes its input, an error
// message, a message header.
//
// The package imports nothing of popwire, so that both codec (a public library that uses only
// the standard library) and logview (whose log format must not depend on the codec) can refer
// to its Marker.
package redact

import "strings"

// Marker is the fixed text that replaces a secret, in a log event, a probe report and the
// codec's safe rendering of a client line. It never depends on the length or content of the
// secret it replaces.
const Marker = "[redacted]"

// maxSecrets caps how many secrets a Scrubber remembers.
const maxSecrets = 16

// Scrubber remembers the secrets and the user names of one session and takes them out of
// texts. The zero value remembers nothing and hides names with an empty key. A Scrubber is not
// safe for concurrent use.
type Scrubber struct {
	Key []byte // HMAC key of the hashes that hidden names are shown as

	secrets []string  // at most maxSecrets, oldest first
	names   userNames // the names to hide
}

// AddSecret remembers secret (when not empty) for Scrub; once maxSecrets are known, the oldest
// is forgotten.
func (s *Scrubber) AddSecret(secret string) {
	if secret == "" {
		return
	}
	if len(s.secrets) == maxSecrets {
		s.secrets = append(s.secrets[:0], s.secrets[1:]...)
	}
	s.secrets = append(s.secrets, secret)
}

// AddName remembers name for hiding and returns what it is shown as: "user-" and 12 hex
// digits of its HMAC under Key, the same for the same name and key.
func (s *Scrubber) AddName(name string) string {
	return s.names.learn(s.Key, name)
}

// Scrub returns text with every remembered secret replaced by Marker and every remembered
// name hidden (see HideNames). It returns text itself when neither occurs in it.
func (s *Scrubber) Scrub(text string) string {
	if text == "" {
		return text
	}
	for _, sec := range s.secrets {
		if strings.Contains(text, sec) {
			text = strings.ReplaceAll(text, sec, Marker)
		}
	}
	return s.HideNames(text)
}

// HideNames returns text with every whole-token occurrence of a remembered name replaced by
// its hash, and its secrets left as they are: for a text whose secrets are already replaced
// (the codec's safe rendering) or are to be shown.
func (s *Scrubber) HideNames(text string) string {
	return s.names.hide(text)
}
