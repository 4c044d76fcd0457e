package proxy

import (
	"errors"
	"strings"
	"testing"

	"github.com/popwire/popwire/internal/popclient"
)

// TestErrReplyIsOneLine checks that what a server or its certificate says cannot add a line
// to the -ERR a client gets when the dial fails.
func TestErrReplyIsOneLine(t *testing.T) {
	long := strings.Repeat("x", 1000)
	tests := []struct {
		name   string
		err    error
		prefix string
	}{
		{"dial error", &popclient.DialError{Step: popclient.StepVerify, Addr: "pop.test:995",
			Names: []string{"pop.test\r\n+OK injected"}, Issuer: "CN=evil\n" + long, Err: errors.New("x509: bad\r\n-ERR")},
			"-ERR [SYS/TEMP] upstream pop.test:995 verify failed: x509: bad  -ERR (certificate names: pop.test  +OK injected)"},
		{"other error", errors.New("broken\r\n+OK\x00" + long), "-ERR [SYS/TEMP] broken  +OK "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(errReply(tt.err))
			if !strings.HasPrefix(got, tt.prefix) || strings.Count(got, "\n") != 1 || strings.Count(got, "\r") != 1 ||
				!strings.HasSuffix(got, "\r\n") || len(got) > 400 {
				t.Fatalf("errReply = %q, want one line of at most 400 bytes starting %q", got, tt.prefix)
			}
		})
	}
}
