package probe

import "strings"

// knownHosts are the POP3 servers of large mail providers, for typo suggestions.
var knownHosts = []string{
	"pop.gmail.com",
	"pop.googlemail.com",
	"outlook.office365.com",
	"pop.mail.yahoo.com",
	"pop.aol.com",
	"pop.gmx.com",
	"pop.gmx.net",
	"pop.web.de",
	"pop.fastmail.com",
	"pop.zoho.com",
	"pop.yandex.com",
	"pop.mail.ru",
}

// suggestHost returns the known POP3 host that host most likely misspells, or "": one within
// two edits, or the one in the same domain (pop3.gmail.com, gmail.com → pop.gmail.com).
func suggestHost(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	best, bestDist := "", 3
	for _, k := range knownHosts {
		if k == host {
			return ""
		}
		if d := editDistance(host, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return best
	}
	for _, k := range knownHosts {
		if domainOf(k) == domainOf(host) {
			return k
		}
	}
	return ""
}

// domainOf returns the last two labels of a host name.
func domainOf(host string) string {
	labels := strings.Split(host, ".")
	if len(labels) < 2 {
		return host
	}
	return strings.Join(labels[len(labels)-2:], ".")
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
