package codec

import (
	"slices"
	"strings"
	"testing"
)

// TestServerTurn: ServerTurn stops right after the reply that makes Replied reach the turn,
// and feeding a chunk in the pieces it cuts gives the frames Server gives for the whole chunk.
func TestServerTurn(t *testing.T) {
	const client = "USER a\r\nLIST\r\nRETR 1\r\nNOOP\r\n"
	const chunk = "+OK\r\n+OK\r\n1 1\r\n.\r\n+OK\r\nab\r\n..c\r\n.\r\n+OK\r\n"
	whole := &Tracker{BodyData: true}
	whole.Server([]byte("+OK\r\n"))
	whole.Client([]byte(client))
	want := ends(whole.Server([]byte(chunk)))
	// Replies end at 5 (USER, Replied 2), 18 (LIST, 3), 35 (RETR, 4) and 40 (NOOP, 5).
	cuts := map[int]int{2: 5, 3: 18, 4: 35, 5: 40, 6: 40}
	for turn, cut := range cuts {
		tr := &Tracker{BodyData: true}
		tr.Server([]byte("+OK\r\n"))
		tr.Client([]byte(client))
		fs, n := tr.ServerTurn([]byte(chunk), turn)
		if n != cut {
			t.Errorf("turn %d: consumed %d bytes, want %d", turn, n, cut)
		}
		if turn < 6 && tr.Replied() != turn {
			t.Errorf("turn %d: Replied %d after the cut", turn, tr.Replied())
		}
		got := ends(fs)
		for _, f := range tr.Server([]byte(chunk[n:])) {
			f.End += n
			got = append(got, f.Kind.String()+"@"+itoa(f.End))
		}
		if !slices.Equal(got, want) {
			t.Errorf("turn %d: frames %s, want %s", turn, strings.Join(got, " "), strings.Join(want, " "))
		}
	}
}

// TestServerTurnDue: with Replied at the turn already, ServerTurn consumes the whole chunk.
func TestServerTurnDue(t *testing.T) {
	tr := &Tracker{}
	tr.Server([]byte("+OK\r\n"))
	tr.Client([]byte("NOOP\r\nNOOP\r\n"))
	if _, n := tr.ServerTurn([]byte("+OK\r\n+OK\r\n"), 1); n != 10 {
		t.Errorf("consumed %d bytes, want 10", n)
	}
}
