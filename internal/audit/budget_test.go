package audit

import (
	"bytes"
	"runtime"
	"testing"
	"time"
)

// content returns n bytes of message content with a header.
func content(n int) []byte {
	b := []byte("Subject: x\r\n\r\n")
	return append(b, bytes.Repeat([]byte("y"), n-len(b))...)
}

// waitUsed collects garbage until b's charge falls to want, failing after 10 s.
func waitUsed(t *testing.T, b *Budget, want int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); b.Used() != want; {
		if time.Now().After(deadline) {
			t.Fatalf("budget still charged %d bytes, want %d", b.Used(), want)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

func TestBudgetLeavesContentOut(t *testing.T) {
	b := NewBudget(3 << 20)
	first := Message{KeepBody: true, Budget: b}
	r1 := feed(t, &first, content(2<<20), 32<<10)
	second := Message{KeepBody: true, Budget: b}
	r2 := feed(t, &second, content(2<<20), 32<<10)
	if r1.Body.Len() != 2<<20 || r1.BodyOmitted {
		t.Fatalf("first message: %d bytes kept, omitted %v; want it whole", r1.Body.Len(), r1.BodyOmitted)
	}
	if r2.Body.Len() != 0 || !r2.BodyOmitted || r2.BodyTruncated {
		t.Fatalf("second message: %d bytes kept, omitted %v, cut %v; want it left out", r2.Body.Len(), r2.BodyOmitted, r2.BodyTruncated)
	}
	if r2.Octets != 2<<20 || r2.Subject != "x" {
		t.Errorf("the audit of a message left out is incomplete: %+v", r2)
	}
	if used := b.Used(); used > 3<<20 || used < 2<<20 {
		t.Errorf("budget charged %d bytes for one kept message of %d", used, 2<<20)
	}
	runtime.KeepAlive(r1.Body)
}

// TestBudgetChargeFollowsTheContent checks that content handed out stays charged while it is
// referenced and is returned once the collector frees it, and that content never handed out
// (an aborted message) returns its charge at once.
func TestBudgetChargeFollowsTheContent(t *testing.T) {
	b := NewBudget(8 << 20)
	m := Message{KeepBody: true, Budget: b}
	r := feed(t, &m, content(1<<20), 16<<10)
	m.Reset()
	runtime.GC()
	if b.Used() < 1<<20 {
		t.Fatalf("budget charged %d bytes while the content is referenced", b.Used())
	}
	runtime.KeepAlive(r.Body)
	waitUsed(t, b, 0)

	m.Reset()
	if _, err := m.Write(content(1 << 20)); err != nil {
		t.Fatal(err)
	}
	m.Reset()
	if b.Used() != 0 {
		t.Errorf("an aborted message left %d bytes charged", b.Used())
	}
}

func TestMessageWriteAfterResultLeavesBodyAlone(t *testing.T) {
	m := Message{KeepBody: true}
	if _, err := m.Write([]byte("Subject: a\r\n\r\nfirst")); err != nil {
		t.Fatal(err)
	}
	r := m.Result()
	if _, err := m.Write([]byte(" second")); err != nil {
		t.Fatal(err)
	}
	if got := r.Body.String(); got != "Subject: a\r\n\r\nfirst" {
		t.Fatalf("a Write after Result changed the body handed out: %q", got)
	}
	if got := m.Result().Body.String(); got != "Subject: a\r\n\r\nfirst second" {
		t.Fatalf("body after the second Write = %q", got)
	}
}

// TestMessageKeptBufferFits checks the slack of the buffer kept content lives in: the charge
// for a large message stays within a quarter of its size.
func TestMessageKeptBufferFits(t *testing.T) {
	b := NewBudget(64 << 20)
	const size = 5<<20 + 12345
	m := Message{KeepBody: true, Budget: b}
	r := feed(t, &m, content(size), 32<<10)
	if used := b.Used(); used < size || used > size+size/4 {
		t.Errorf("a %d-byte message is charged %d bytes", size, used)
	}
	runtime.KeepAlive(r.Body)
}

// TestMessageKeepCopiesLittle checks what keeping a large message's content costs beyond the
// content: the blocks it is kept in are all it allocates for it (Result hands them out with no
// copy), so that the Budget's charge is all the memory the content takes: the content, the
// unused end of the last block (at most maxBlock) and the header block.
func TestMessageKeepCopiesLittle(t *testing.T) {
	const size = 8<<20 + 12345
	data := content(size)
	m := Message{KeepBody: true, Budget: NewBudget(64 << 20)}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := feed(t, &m, data, 32<<10)
	runtime.ReadMemStats(&after)
	if r.Body.Len() != size || r.Body.String() != string(data) {
		t.Fatalf("kept %d bytes, want the %d of the content", r.Body.Len(), size)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > size+maxBlock+4*MaxHeader {
		t.Errorf("keeping %d bytes of content allocated %d bytes, want at most the content and a block", size, n)
	}
}

// TestKeptDropReturnsCharge checks that the charge of content handed out returns as soon as
// its parts are dropped, with no garbage collection, once each however often they are dropped,
// and that a part dropped before the Message is Reset stays dropped.
func TestKeptDropReturnsCharge(t *testing.T) {
	b := NewBudget(8 << 20)
	m := Message{KeepBody: true, Budget: b}
	r := feed(t, &m, content(1<<20), 16<<10)
	if len(r.Body.Parts) < 2 {
		t.Fatalf("1 MiB kept in %d parts, want several", len(r.Body.Parts))
	}
	r.Body.Drop(0)
	m.Reset()
	for range 2 {
		for i := range r.Body.Parts {
			r.Body.Drop(i)
		}
	}
	if used := b.Used(); used != 0 {
		t.Errorf("%d bytes still charged after every part was dropped", used)
	}
	if !r.Body.Charge(1<<20) || b.Used() != 1<<20 {
		t.Fatalf("Charge of 1 MiB: budget charged %d bytes", b.Used())
	}
	if r.Body.Charge(8 << 20) {
		t.Error("Charge passed the budget's limit")
	}
	r.Body.Uncharge(1 << 20)
	if b.Used() != 0 {
		t.Errorf("%d bytes charged after Uncharge", b.Used())
	}
	runtime.KeepAlive(r.Body.Parts)
}

// TestBudgetCollectsWhatWasLetGo checks that once as much as the limit has been let go of, by
// parts dropped or copies uncharged, the Budget starts a collection of its own, so that the
// heap follows the charge, and not before; it fails after 10 s without one.
func TestBudgetCollectsWhatWasLetGo(t *testing.T) {
	for _, how := range []string{"drop", "uncharge"} {
		b := NewBudget(4 << 20)
		var before runtime.MemStats
		for round := range 2 {
			size := map[string]int{"drop": 3 << 20, "uncharge": 1 << 10}[how]
			m := Message{KeepBody: true, Budget: b}
			r := feed(t, &m, content(size), 32<<10)
			m.Reset()
			if round == 1 {
				runtime.ReadMemStats(&before)
			}
			if how == "drop" {
				for i := range r.Body.Parts {
					r.Body.Drop(i)
				}
			} else {
				if !r.Body.Charge(3 << 20) {
					t.Fatal("Charge refused")
				}
				r.Body.Uncharge(3 << 20)
			}
			if round == 0 && b.collecting.Load() {
				t.Fatalf("%s: a collection started after 3 MiB of a 4 MiB budget were let go of", how)
			}
			runtime.KeepAlive(r.Body.Parts)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			var now runtime.MemStats
			runtime.ReadMemStats(&now)
			if now.NumForcedGC > before.NumForcedGC {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no collection started after 6 MiB of a 4 MiB budget were let go of", how)
			}
		}
		for b.collecting.Load() {
			time.Sleep(time.Millisecond) // the next case must start its own
		}
	}
}
