package probe

import "strings"

// capaMeaning explains the CAPA tags of RFC 2449 §6, RFC 2595 §8, RFC 3206 §6, RFC 5034 §3
// and RFC 6856, and the private ones seen on large servers.
var capaMeaning = map[string]string{
	"TOP":            "TOP: fetch headers and the first lines of a message",
	"USER":           "USER/PASS login available",
	"SASL":           "AUTH login with these SASL mechanisms",
	"RESP-CODES":     "error replies carry [CODES] saying what went wrong",
	"LOGIN-DELAY":    "minimum seconds between two logins",
	"PIPELINING":     "several commands may be sent without waiting for replies",
	"EXPIRE":         "days the server keeps mail after it is downloaded (0: it may delete it; NEVER: kept)",
	"UIDL":           "unique message ids, so clients can leave mail on the server",
	"IMPLEMENTATION": "the server software (informational)",
	"STLS":           "STLS upgrades this connection to TLS",
	"AUTH-RESP-CODE": "failed logins say [AUTH] when the credentials are the problem",
	"UTF8":           "UTF-8 mode for message content and credentials",
	"LANG":           "the server can reply in other languages",
	"CAPA":           "CAPA is supported (listed redundantly)",
	"X-GOOGLE-RICO":  "a private Gmail extension",
}

// explainCapa returns a capability line with its meaning.
func explainCapa(line string) string {
	tag, _, _ := strings.Cut(line, " ")
	if m, ok := capaMeaning[strings.ToUpper(tag)]; ok {
		return line + " — " + m
	}
	if strings.HasPrefix(strings.ToUpper(tag), "X") {
		return line + " — a private extension"
	}
	return line + " — not a registered capability"
}

// capabilities are the facts of a CAPA reply that the probe acts on.
type capabilities struct {
	user       bool   // USER
	plain      bool   // SASL … PLAIN
	loginDelay string // LOGIN-DELAY seconds, "" when not announced
}

func parseCapa(lines []string) capabilities {
	var c capabilities
	for _, l := range lines {
		f := strings.Fields(strings.ToUpper(l))
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "USER":
			c.user = true
		case "SASL":
			for _, m := range f[1:] {
				c.plain = c.plain || m == "PLAIN"
			}
		case "LOGIN-DELAY":
			if len(f) > 1 {
				c.loginDelay = f[1]
			}
		}
	}
	return c
}
