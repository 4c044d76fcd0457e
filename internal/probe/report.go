package probe

import (
	"encoding/base64"
	"time"

	"github.com/popwire/popwire/internal/redact"
)

// The names of the steps, in the order a probe runs them.
const (
	StepDNS      = "dns"
	StepConnect  = "connect"
	StepGreeting = "greeting"
	StepSTLS     = "stls"
	StepTLS      = "tls"
	StepCAPA     = "capa"
	StepLogin    = "login"
	StepSTAT     = "stat"
	StepQUIT     = "quit"
)

// Step is the outcome of one probe step.
type Step struct {
	Name    string        `json:"step"`
	OK      bool          `json:"ok"`
	Took    time.Duration `json:"-"`
	Millis  float64       `json:"ms"`                // Took in milliseconds
	Summary string        `json:"summary"`           // one line: what was found
	Details []string      `json:"details,omitempty"` // more facts, one per entry
	Error   string        `json:"error,omitempty"`   // what went wrong, when OK is false
	Hint    string        `json:"hint,omitempty"`    // what it likely means and what to try; may accompany a passed step as a warning
}

// Report is the outcome of a probe: its steps in order, up to the first failure (and QUIT
// when the session was still usable).
type Report struct {
	Addr  string `json:"addr"`
	Mode  string `json:"mode"` // "implicit" or "starttls"
	OK    bool   `json:"ok"`   // every step passed
	Steps []Step `json:"steps"`
}

// add appends a step timed from start and returns it for filling in.
func (r *Report) add(name string, start time.Time, ok bool) *Step {
	took := time.Since(start)
	r.Steps = append(r.Steps, Step{Name: name, OK: ok, Took: took, Millis: float64(took.Microseconds()) / 1000})
	return &r.Steps[len(r.Steps)-1]
}

// finish sets OK and replaces every secret in the report's texts with redact.Marker.
func (r *Report) finish(secrets []string) {
	r.OK = len(r.Steps) > 0
	var scrub redact.Scrubber
	for _, sec := range secrets {
		scrub.AddSecret(sec)
	}
	for i := range r.Steps {
		s := &r.Steps[i]
		r.OK = r.OK && s.OK
		s.Summary, s.Error, s.Hint = scrub.Scrub(s.Summary), scrub.Scrub(s.Error), scrub.Scrub(s.Hint)
		for j := range s.Details {
			s.Details[j] = scrub.Scrub(s.Details[j])
		}
	}
}

// secretsOf returns the forms of password a server could echo: itself, its base64, and the
// AUTH PLAIN initial response for user.
func secretsOf(user, password string) []string {
	if password == "" {
		return nil
	}
	return []string{password, base64.StdEncoding.EncodeToString([]byte(password)), plainResponse(user, password)}
}

// plainResponse is the base64 AUTH PLAIN message for user and password (RFC 4616 §2), with
// no authorization identity.
func plainResponse(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
}
