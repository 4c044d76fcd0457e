package proxy

import (
	"fmt"
	"strings"
)

// ParseDeny returns the command keywords of a deny list (Config.Deny, --deny), upper-cased.
// Each entry is a keyword or a comma-separated list of them, blanks around a keyword
// ignored. An entry that is not a POP3 command keyword (3 to 8 characters, no blank inside)
// is an error: a rule that can never match must not pass for one.
func ParseDeny(entries []string) ([]string, error) {
	var deny []string
	for _, e := range entries {
		for _, verb := range strings.Split(e, ",") {
			verb = strings.ToUpper(strings.TrimSpace(verb))
			if len(verb) < 3 || len(verb) > 8 || strings.ContainsAny(verb, " \t\r\n") {
				return nil, fmt.Errorf("proxy: %q is not a POP3 command keyword to deny", verb)
			}
			deny = append(deny, verb)
		}
	}
	return deny, nil
}
