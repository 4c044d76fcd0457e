package popserver

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// BenchmarkRETR50MiB measures RETR of a 50 MiB message over loopback TLS with a plain client
// that only looks for the terminator.
func BenchmarkRETR50MiB(b *testing.B) {
	const size = 50 << 20
	line := []byte(strings.Repeat("0123456789abcdef", 4) + "\r\n")
	msg := bytes.Repeat(line, size/len(line))
	var st Store
	if err := st.Put("bench", Message{UID: "big", Data: msg}); err != nil {
		b.Fatal(err)
	}
	srv := &Server{Users: map[string]string{"bench": "pw"}, Store: &st}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(tls.NewListener(l, serverTLS()))
	defer srv.Close()
	conn, err := tls.Dial("tcp", l.Addr().String(), clientTLS())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Minute))
	r := bufio.NewReaderSize(conn, 256<<10)
	readLine := func() string {
		s, err := r.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	readLine()
	io.WriteString(conn, "USER bench\r\nPASS pw\r\n")
	readLine()
	if s := readLine(); !strings.HasPrefix(s, "+OK") {
		b.Fatalf("login: %q", s)
	}
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		io.WriteString(conn, "RETR 1\r\n")
		readLine()
		var tail []byte
		got := 0
		for !bytes.HasSuffix(tail, []byte("\r\n.\r\n")) {
			n, err := r.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			got += n
			tail = append(tail, buf[max(0, n-5):n]...)
			tail = tail[max(0, len(tail)-5):]
		}
		if got != len(msg)+3 {
			b.Fatalf("read %d bytes, want %d", got, len(msg)+3)
		}
	}
}
