package oauth

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/popwire/popwire/internal/oauthtest"
)

// testAccount is the account the tests authorise.
const testAccount = "ann@example.com"

// startServer runs an oauthtest server for the test, approving testAccount.
func startServer(t *testing.T, opts oauthtest.Options) *oauthtest.Server {
	t.Helper()
	if opts.User == "" {
		opts.User = testAccount
	}
	if opts.ClientID == "" {
		opts.ClientID = "popwire-test"
	}
	s, err := oauthtest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// testProvider is a custom provider of s.
func testProvider(s *oauthtest.Server, secret string) Provider {
	return Provider{Name: "test", AuthURL: s.AuthURL(), TokenURL: s.TokenURL(), DeviceURL: s.DeviceURL(),
		RevocationURL: s.RevocationURL(), ClientID: "popwire-test", ClientSecret: secret, Scopes: []string{"mail", "offline"},
		Flow: FlowDevice}
}

// testContext is a context that ends with the test, or after 30 s.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// urlRE finds the authorization URL in a flow's instructions.
var urlRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+/authorize\?\S+`)

// printedURL returns a writer for a flow's Out and a channel that gets the first
// authorization URL written to it.
func printedURL(t *testing.T) (io.Writer, <-chan string) {
	r, w := io.Pipe()
	t.Cleanup(func() { w.Close() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if u := urlRE.FindString(sc.Text()); u != "" {
				select {
				case found <- u:
				default:
				}
			}
		}
	}()
	return w, found
}

// noRedirect is an HTTP client that stops at the first redirect.
var noRedirect = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// waitURL returns what found gets, failing the test after 10 s.
func waitURL(t *testing.T, found <-chan string) string {
	t.Helper()
	select {
	case u := <-found:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no authorization URL was printed")
		return ""
	}
}

// regexpUserCode finds a user code as oauthtest makes them.
var regexpUserCode = regexp.MustCompile(`\b[A-Z2-7]{4}-[A-Z2-7]{4}\b`)

// chmod sets the mode of path.
func chmod(path string, mode os.FileMode) error { return os.Chmod(path, mode) }

// contextWithCancel is a cancellable context of the test.
func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(testContext(t))
}
