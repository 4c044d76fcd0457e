package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/popwire/popwire/internal/popclient"
)

// errReply returns the single line a client gets when its upstream cannot be used
// (RFC 3206 §4: SYS/TEMP, a transient system problem).
func errReply(err error) []byte {
	why := oneLine(err.Error(), 300)
	var de *popclient.DialError
	if errors.As(err, &de) {
		why = fmt.Sprintf("upstream %s %s failed: %s", de.Addr, de.Step, oneLine(de.Reason(), 300))
	}
	return []byte("-ERR [SYS/TEMP] " + why + "\r\n")
}

// oneLine makes s safe for a single protocol or log line: control characters become spaces
// and the result is cut to max bytes.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max]
	}
	return s
}
