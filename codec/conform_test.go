package codec

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFindingTranscripts checks the claims transcripts make in their comment: "finds: RULE"
// says that the frames hold a finding of RULE, "finds-not: RULE" that they hold none. Every
// rule has at least one transcript of each kind.
func TestFindingTranscripts(t *testing.T) {
	known := map[string]bool{}
	for r := Rule(1); r.String() != ""; r++ {
		known[r.String()] = true
	}
	claims := map[string]map[bool]int{}
	for _, tr := range loadTranscripts(t) {
		got := run(t, tr.opts, tr.steps)
		for _, l := range strings.Split(string(tr.archive.Comment), "\n") {
			r, finds := strings.CutPrefix(l, "finds: ")
			if !finds {
				var ok bool
				if r, ok = strings.CutPrefix(l, "finds-not: "); !ok {
					continue
				}
			}
			if !known[r] {
				t.Errorf("%s: no rule %q", filepath.Base(tr.name), r)
			}
			if claims[r] == nil {
				claims[r] = map[bool]int{}
			}
			claims[r][finds]++
			if found := strings.Contains(got, " rule="+r+" "); found != finds {
				t.Errorf("%s: finding of %s: %v, want %v, in\n%s", filepath.Base(tr.name), r, found, finds, got)
			}
		}
	}
	for r := range known {
		if claims[r][true] == 0 || claims[r][false] == 0 {
			t.Errorf("rule %s: %d transcripts that trigger it and %d that must not, want one of each at least",
				r, claims[r][true], claims[r][false])
		}
	}
}

// TestRulesAreDescribed checks that every rule has a name, RFC sections and a requirement.
func TestRulesAreDescribed(t *testing.T) {
	for r := Rule(1); int(r) < len(rules); r++ {
		if r.String() == "" || !strings.HasPrefix(r.RFC(), "RFC ") || !strings.HasSuffix(r.Requirement(), ".") {
			t.Errorf("rule %d: name %q, RFC %q, requirement %q", r, r.String(), r.RFC(), r.Requirement())
		}
	}
	if Rule(0).String() != "" || Rule(len(rules)).String() != "" {
		t.Errorf("no rule has a name: %q, %q", Rule(0).String(), Rule(len(rules)).String())
	}
}

// TestConformanceBounded feeds a LIST and a UIDL listing far longer than what the checks
// keep and checks that the tracker's memory stays within its bound throughout, that a UIDL
// listing's UIDs are dropped when it ends, and that sizes beyond the kept messages are not
// compared.
func TestConformanceBounded(t *testing.T) {
	tr := &Tracker{}
	tr.Server([]byte("+OK ready\r\n"))
	tr.Client([]byte("LIST\r\nUIDL\r\n"))
	tr.Server([]byte("+OK\r\n"))
	const n = 3 * maxUIDs
	var b []byte
	for i := 1; i <= n; i++ {
		b = append(b, strconv.Itoa(i)+" 100\r\n"...)
		if len(b) > 4096 {
			tr.Server(b)
			b = b[:0]
			if fp := tr.footprint(); fp > maxFootprint(tr) {
				t.Fatalf("LIST line %d: tracker holds %d bytes, more than %d", i, fp, maxFootprint(tr))
			}
		}
	}
	tr.Server(append(b, ".\r\n+OK\r\n"...))
	if got := len(tr.conf.sizes); got != maxSized {
		t.Errorf("%d sizes kept, want %d", got, maxSized)
	}
	b = b[:0]
	for i := 1; i <= n; i++ {
		b = append(b, strconv.Itoa(i)+" uid-"+strconv.Itoa(i)+"\r\n"...)
		if len(b) > 4096 {
			tr.Server(b)
			b = b[:0]
			if fp := tr.footprint(); fp > maxFootprint(tr) {
				t.Fatalf("UIDL line %d: tracker holds %d bytes, more than %d", i, fp, maxFootprint(tr))
			}
		}
	}
	if got := len(tr.conf.uids); got != maxUIDs {
		t.Errorf("%d UIDs kept, want %d", got, maxUIDs)
	}
	tr.Server(append(b, ".\r\n"...))
	if tr.conf.uids != nil {
		t.Errorf("%d UIDs kept after the listing", len(tr.conf.uids))
	}
	tr.Client([]byte("RETR " + strconv.Itoa(maxSized+1) + "\r\n"))
	for _, f := range tr.Server([]byte("+OK\r\nA\r\n.\r\n")) {
		if f.Rule != 0 {
			t.Errorf("finding for a message whose size is not kept: %s", f.Note)
		}
	}
}

// TestChecksAllocateNothing checks that the checks on conformant listing lines allocate
// nothing: a long LIST or UIDL reply costs no garbage per line.
func TestChecksAllocateNothing(t *testing.T) {
	for _, verb := range []string{"LIST", "UIDL", "CAPA"} {
		tr := &Tracker{}
		tr.Server([]byte("+OK ready\r\n"))
		tr.Client([]byte(verb + "\r\n"))
		tr.Server([]byte("+OK\r\n"))
		line := []byte("12345 uid-or-size-or-tag\r\n")
		i := 0
		if n := testing.AllocsPerRun(100, func() {
			i++
			line[4] = byte('0' + i%10) // another message each time
			tr.Server(line)
		}); n != 0 {
			t.Errorf("%s line: %v allocations, want 0", verb, n)
		}
	}
}
