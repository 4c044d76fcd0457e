package proxy

import (
	"bytes"
	"fmt"

	"github.com/popwire/popwire/codec"
	"github.com/popwire/popwire/internal/logview"
)

// maxCapaHold bounds the bytes of one CAPA line held across chunks (RFC 2449 §5: 512).
const maxCapaHold = 4096

// capaRewrite mediates one CAPA reply for the client leg (RFC 2449 §5, RFC 2595 §4): it keeps
// one STLS line when the client leg can upgrade (adding it before the terminator when the
// upstream had none) and drops it otherwise; with hideAuth it drops USER and SASL. Under the
// OAuth bridge (bridged) the server's USER and SASL lines are replaced by what popwire itself
// answers: "USER" (in AUTHORIZATION, offerUser) and "SASL PLAIN LOGIN", unless hideAuth. Every
// other line, and every line ending, is passed on byte for byte.
type capaRewrite struct {
	active    bool
	addSTLS   bool
	hideAuth  bool
	bridged   bool
	offerUser bool
	sawSTLS   bool
	changed   bool
	crlf      bool
	pend      []byte // the start of a line that continues in the next chunk
}

func (c *capaRewrite) begin(addSTLS, hideAuth bool) {
	*c = capaRewrite{active: true, addSTLS: addSTLS, hideAuth: hideAuth, crlf: true, pend: c.pend[:0]}
}

// line passes on or drops one capability line; raw is its tail in the current chunk.
func (c *capaRewrite) line(s *session, tag []byte, raw []byte) error {
	keep := true
	// A capability line has a command line's shape (RFC 2449 §5): one tokenizer reads both.
	capa, _ := codec.ParseCommand(tag)
	switch capa.Verb {
	case "STLS":
		keep = c.addSTLS && !c.sawSTLS
		c.sawSTLS = c.sawSTLS || keep
	case "USER", "SASL":
		keep = !c.hideAuth && !c.bridged
	}
	c.crlf = bytes.HasSuffix(raw, []byte("\r\n")) || (len(raw) == 1 && bytes.HasSuffix(c.pend, []byte("\r")))
	var err error
	if keep {
		err = c.flush(s, raw)
	} else {
		c.changed = true
	}
	c.pend = c.pend[:0]
	return err
}

// bridge makes the rewrite one for the OAuth bridge (see capaRewrite); begin resets it.
func (c *capaRewrite) bridge(offerUser bool) { c.bridged, c.offerUser = true, offerUser }

// end writes the lines to be added (STLS, the bridge's USER and SASL), then the terminator.
func (c *capaRewrite) end(s *session, raw []byte) error {
	var add []string
	if c.bridged && !c.hideAuth {
		if c.offerUser {
			add = append(add, "USER")
		}
		add = append(add, "SASL PLAIN LOGIN")
	}
	if c.addSTLS && !c.sawSTLS {
		add = append(add, "STLS")
	}
	eol := "\n"
	if c.crlf {
		eol = "\r\n"
	}
	for _, l := range add {
		if err := s.writeClient([]byte(l + eol)); err != nil {
			return err
		}
		c.changed = true
	}
	err := c.flush(s, raw)
	c.active, c.pend = false, c.pend[:0]
	if c.changed {
		bridge := ""
		if c.bridged {
			bridge = ", login by the oauth bridge"
		}
		text := fmt.Sprintf("CAPA rewritten for the client leg (stls offered: %t, user/sasl hidden: %t%s)", c.addSTLS, c.hideAuth, bridge)
		s.rec.event(logview.Event{Kind: logview.KindPolicy, Dir: logview.DirLocal, Action: "capa-rewrite", Verb: "CAPA", Text: text})
	}
	return err
}

// hold keeps the unfinished line at the end of a chunk; a line over maxCapaHold ends the
// rewrite and everything is passed on unchanged.
func (c *capaRewrite) hold(s *session, rest []byte) error {
	if len(c.pend)+len(rest) <= maxCapaHold {
		c.pend = append(c.pend, rest...)
		return nil
	}
	err := c.flush(s, rest)
	c.active, c.pend = false, c.pend[:0]
	s.rec.anomaly(logview.LegUpstream, "CAPA line too long: reply passed on unchanged")
	return err
}

func (c *capaRewrite) flush(s *session, raw []byte) error {
	if len(c.pend) > 0 {
		// pend is reused for the next line before the flush: copied, not borrowed.
		if err := s.copyClient(c.pend); err != nil {
			return err
		}
	}
	if len(raw) == 0 {
		return nil
	}
	return s.writeClient(raw)
}
