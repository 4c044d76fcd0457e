package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// required is true when POPWIRE_E2E=require: missing tools then fail tests instead of skipping.
var required = os.Getenv("POPWIRE_E2E") == "require"

// suite is the state shared by every test of one run: a temp root, the built binary and the
// private Dovecot, each created on first use.
var suite struct {
	root string // temp dir, mode 0755 so that Dovecot's unprivileged processes can traverse it

	buildOnce sync.Once
	binary    string
	buildErr  error

	certOnce sync.Once
	localCA  string // popwire's local CA, exported with `popwire cert --export`
	certErr  error

	dovecotOnce sync.Once
	dovecot     *dovecot
	dovecotErr  error

	oauthOnce     sync.Once
	oauthDovecot  *dovecot       // the Dovecot whose passdb is oauth2 (dovecot_oauth_test.go)
	introspection *introspection // the endpoint oauthDovecot asks
	oauthErr      error
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := os.MkdirTemp("", "popwire-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(root)
	if err := os.Chmod(root, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	suite.root = root
	code := m.Run()
	for _, d := range []*dovecot{suite.dovecot, suite.oauthDovecot} {
		if d == nil {
			continue
		}
		if err := d.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			code = 1
		}
		if code != 0 {
			fmt.Fprintf(os.Stderr, "--- Dovecot log (%s) ---\n%s--- end of Dovecot log ---\n", d.logPath, d.logText())
		}
	}
	return code
}

// missing skips t, or fails it when POPWIRE_E2E=require, because what is not available.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if required {
		t.Fatalf("e2e: %s (POPWIRE_E2E=require)", msg)
	}
	t.Skipf("e2e: %s; install it or run ./scripts/test (set POPWIRE_E2E=require to fail instead)", msg)
}

// needTool returns the path of an installed program, or skips/fails t.
func needTool(t *testing.T, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing(t, "%s not installed", names[0])
	return ""
}

// python returns Debian's python3 when present (what scripts/test installs), else any python3.
func python(t *testing.T) string {
	t.Helper()
	return needTool(t, "/usr/bin/python3", "python3")
}

// popwireBinary builds the popwire binary once from the repository root, with -race when the
// tests run with -race. POPWIRE_E2E_BINARY names a prebuilt binary to test instead (a release
// build, say).
func popwireBinary(t *testing.T) string {
	t.Helper()
	suite.buildOnce.Do(func() {
		if prebuilt := os.Getenv("POPWIRE_E2E_BINARY"); prebuilt != "" {
			suite.binary, suite.buildErr = filepath.Abs(prebuilt)
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			suite.buildErr = fmt.Errorf("e2e: go not on PATH: %w", err)
			return
		}
		out := filepath.Join(suite.root, "popwire")
		args := []string{"build", "-o", out}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command(goTool, append(args, ".")...)
		cmd.Dir = ".."
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			suite.buildErr = fmt.Errorf("e2e: go build: %w\n%s", err, stderr.Bytes())
			return
		}
		suite.binary = out
	})
	if suite.buildErr != nil {
		t.Fatal(suite.buildErr)
	}
	return suite.binary
}

// configHome is the XDG_CONFIG_HOME every popwire process of the run shares, so that they all
// use the one local CA.
func configHome() string { return filepath.Join(suite.root, "xdg") }

// popwireCA returns popwire's local CA certificate, exported with `popwire cert --export`
// (which creates the CA on first use).
func popwireCA(t *testing.T) string {
	t.Helper()
	bin := popwireBinary(t)
	suite.certOnce.Do(func() {
		path := filepath.Join(suite.root, "popwire-ca.pem")
		out, err := runCmd(30*time.Second, popwireEnv(), bin, "cert", "--export", path)
		if err != nil {
			suite.certErr = fmt.Errorf("e2e: popwire cert --export: %w\n%s", err, out)
			return
		}
		suite.localCA = path
	})
	if suite.certErr != nil {
		t.Fatal(suite.certErr)
	}
	return suite.localCA
}

// popwireEnv is the environment of every popwire process: the shared config home, no colour.
func popwireEnv() []string {
	return append(os.Environ(), "XDG_CONFIG_HOME="+configHome(), "NO_COLOR=1")
}
