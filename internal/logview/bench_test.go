package logview

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// benchEvents are a typical mix: a command, its reply, and the body with its audit record.
func benchEvents() []Event {
	at := time.Date(2025, 3, 14, 9, 26, 54, 123456789, time.UTC)
	return []Event{
		{V: Version, Time: at, Session: "a1b2c3d4", Kind: KindCommand, Dir: DirClientToServer, User: "alice", Verb: "RETR", Text: "RETR 1"},
		{V: Version, Time: at, Session: "a1b2c3d4", Kind: KindReply, Dir: DirServerToClient, User: "alice", Answers: "RETR", Status: "+OK", Text: "98523 octets"},
		{V: Version, Time: at, Session: "a1b2c3d4", Kind: KindBody, Dir: DirServerToClient, User: "alice", Answers: "RETR", Lines: 1284, Bytes: 98523,
			Message: &MessageInfo{Msg: 1, UID: "000000015f3a9c21", Octets: 98523, SHA256: "3f2a9c1d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
				From: "Jörg Müller <joerg@example.de>", To: "alice@example.net", Subject: "Quartalsbericht Q1 – Entwurf",
				Date: "Thu, 13 Mar 2025 17:02:11 +0100", MessageID: "<20250313160211.4411@example.de>"}},
	}
}

func benchSink(b *testing.B, s Sink) {
	events := benchEvents()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.Emit(events[i%len(events)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONEmit(b *testing.B) { benchSink(b, NewJSONWriter(io.Discard)) }

// BenchmarkJSONEmitEncodingJSON is the reflection-based baseline the hand-written encoder of
// BenchmarkJSONEmit is measured against.
func BenchmarkJSONEmitEncodingJSON(b *testing.B) {
	enc := json.NewEncoder(io.Discard)
	enc.SetEscapeHTML(false)
	benchSink(b, sinkFunc(func(e Event) error { return enc.Encode(plainEvent(e)) }))
}

func BenchmarkPrinter(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchSink(b, NewPrinter(io.Discard, PrinterOptions{})) })
	b.Run("color", func(b *testing.B) { benchSink(b, NewPrinter(io.Discard, PrinterOptions{Color: true})) })
}

type sinkFunc func(Event) error

func (f sinkFunc) Emit(e Event) error { return f(e) }

// BenchmarkJSONEmitContent writes a body event with 16 MiB of message content (--bodies full),
// mail-like lines of 80 bytes.
func BenchmarkJSONEmitContent(b *testing.B) {
	content := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n", (16<<20)/80)
	e := benchEvents()[2]
	m := *e.Message
	m.Content = ContentOf(content)
	e.Message = &m
	j := NewJSONWriter(io.Discard)
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	for b.Loop() {
		if err := j.Emit(e); err != nil {
			b.Fatal(err)
		}
	}
}
