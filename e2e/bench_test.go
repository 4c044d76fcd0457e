package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestBenchHarnessSmoke runs the benchmark harness of BENCHMARKS.md (bench/ and bench/relay)
// once with the smallest sizes against the built popwire, stunnel and the Go relay. It
// checks that the harness works end to end, not how fast anything is: every contender takes
// part in each of its workloads without a failure or a byte mismatch (exit status 0), every
// popwire contender is configured (each flag the harness looks for exists), and the report
// has its tables. A threshold on a shared machine would flake, so there is none.
func TestBenchHarnessSmoke(t *testing.T) {
	stunnel := needTool(t, "stunnel4")
	popwire := popwireBinary(t)
	goTool := needTool(t, "go")
	dir := t.TempDir()
	bins := map[string]string{"./bench": filepath.Join(dir, "bench"), "./bench/relay": filepath.Join(dir, "relay")}
	for pkg, out := range bins {
		cmd := exec.Command(goTool, "build", "-o", out, pkg)
		cmd.Dir = ".."
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	out, err := runCmd(4*time.Minute, os.Environ(), bins["./bench"], "--popwire", popwire, "--relay", bins["./bench/relay"],
		"--stunnel", stunnel, "--rounds", "1", "--big-mib", "1", "--retrs", "2", "--noops", "50", "--workers", "8",
		"--sessions", "40", "--idle", "20", "--timeout", "3m")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	for _, want := range []string{
		"| figure | unit | direct | stunnel | Go relay | popwire (log off) | popwire (full log) | popwire (full log, --deny DELE) | popwire (--bodies full) |",
		"Each popwire figure as a ratio to stunnel / to the Go relay",
		"Targets of issue 14, from this run:",
		"The machine's limit: during a fetch the upstream child",
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"popwire has no", "was not measured", "Failures:"} {
		if bytes.Contains(out, []byte(bad)) {
			t.Errorf("the report says %q:\n%s", bad, out)
		}
	}
}
