package logview

import (
	"bytes"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestLogFileStdoutIsASocket: under systemd (StandardOutput=journal) or a container runtime
// that collects stdout through a socket, /dev/stdout is a socket, which open(2) refuses
// (ENXIO). --log-file /dev/stdout must write to the process's standard output all the same,
// and a reopen (SIGHUP) must keep writing there.
func TestLogFileStdoutIsASocket(t *testing.T) {
	for _, tt := range []struct {
		path string
		std  **os.File
	}{{"/dev/stdout", &os.Stdout}, {"/dev/stderr", &os.Stderr}} {
		t.Run(tt.path, func(t *testing.T) {
			fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			w, r := os.NewFile(uintptr(fds[0]), "w"), os.NewFile(uintptr(fds[1]), "r")
			defer w.Close()
			defer r.Close()
			saved := *tt.std
			*tt.std = w
			defer func() { *tt.std = saved }()

			s, err := OpenFile(tt.path, nil)
			if err != nil {
				t.Fatalf("OpenFile(%s) with a socket as the stream: %v", tt.path, err)
			}
			if err := s.Emit(Event{Kind: KindOpen, Session: "s1"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Reopen(); err != nil {
				t.Fatalf("Reopen: %v", err)
			}
			if err := s.Emit(Event{Kind: KindClose, Session: "s1"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("end\n")); err != nil {
				t.Fatalf("the stream was closed by the sink: %v", err)
			}
			r.SetReadDeadline(time.Now().Add(5 * time.Second))
			var got bytes.Buffer
			buf := make([]byte, 4096)
			for !bytes.HasSuffix(got.Bytes(), []byte("end\n")) {
				n, err := r.Read(buf)
				if err != nil {
					t.Fatalf("read the stream: %v (got %q)", err, got.String())
				}
				got.Write(buf[:n])
			}
			lines := bytes.Split(bytes.TrimSuffix(got.Bytes(), []byte("end\n")), []byte("\n"))
			if len(lines) != 3 || !bytes.Contains(lines[0], []byte(`"kind":"open"`)) || !bytes.Contains(lines[1], []byte(`"kind":"close"`)) {
				t.Fatalf("the stream got %q, want the open and close events as two JSON lines", got.String())
			}
		})
	}
}
