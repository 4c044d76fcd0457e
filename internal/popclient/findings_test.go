package popclient_test

import (
	"slices"
	"testing"

	"github.com/popwire/popwire/internal/popclient/popclienttest"
)

// TestFindingNotesNameTheRule checks that a conformance finding reaches the caller as a note
// that names the rule and its RFC sections before the evidence.
func TestFindingNotesNameTheRule(t *testing.T) {
	s := popclienttest.Start(t, popclienttest.Config{Replies: map[string]string{"NOOP": "+OK\n", "STAT": "+OK 0 0\r\n"}})
	c := dial(t, s.Addr)
	ctx := testCtx(t)
	if _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, line := range []string{"NOOP", "STAT"} {
		r, err := c.Do(ctx, line)
		if err != nil {
			t.Fatal(err)
		}
		notes = append(notes, r.Notes...)
	}
	if want := "bare-lf (RFC 1939 §3): the status line ends in a bare LF, not CRLF"; !slices.Contains(notes, want) {
		t.Errorf("notes %q, want %q", notes, want)
	}
}
