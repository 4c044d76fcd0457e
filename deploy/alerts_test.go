package deploy_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/popwire/popwire/internal/metrics"
)

// alertsFile holds the sample Prometheus alerts that README.md shows.
var alertsFile = filepath.Join("prometheus", "alerts.yaml")

var (
	metricName   = regexp.MustCompile(`\bpopwire_[a-z_]+\b`)
	labelMatcher = regexp.MustCompile(`\b([a-z_]+)="([^"]*)"`)
)

// ruleProblems returns the metric names and label matchers of rules that a scrape of popwire
// (scrape) does not have: an alert on a series that never exists never fires.
func ruleProblems(rules, scrape string) []string {
	var bad []string
	for _, name := range metricName.FindAllString(rules, -1) {
		if !strings.Contains(scrape, "\n"+name+"{") {
			bad = append(bad, fmt.Sprintf("no series %s in popwire's /metrics", name))
		}
	}
	for _, m := range labelMatcher.FindAllStringSubmatch(rules, -1) {
		if !strings.Contains(scrape, m[0]) {
			bad = append(bad, fmt.Sprintf("no series with %s in popwire's /metrics", m[0]))
		}
	}
	return bad
}

// TestAlertRules checks the sample alerts: promtool accepts them (check rules) and they fire
// when they should and only then (test rules, prometheus/alerts_test.yaml); every series and
// label value they name is in popwire's /metrics; README.md shows them as they are in the file.
func TestAlertRules(t *testing.T) {
	promtool := need(t, "promtool")
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	rules := string(data)
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	reg := metrics.New()
	reg.Route("gmail")
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	scrape := rec.Body.String()
	if bad := ruleProblems(rules, scrape); len(bad) > 0 {
		t.Errorf("%s:\n%s", alertsFile, strings.Join(bad, "\n"))
	}
	for old, new := range map[string]string{
		"popwire_logins_total{": "popwire_login_total{",
		`outcome="failed"`:      `outcome="fail"`,
		`leg="upstream"`:        `leg="server"`,
	} {
		mutated := strings.Replace(rules, old, new, 1)
		if mutated == rules {
			t.Errorf("%q is not in %s: the mutation does not apply", old, alertsFile)
		} else if len(ruleProblems(mutated, scrape)) == 0 {
			t.Errorf("%s with %q for %q: no problem reported", alertsFile, new, old)
		}
	}

	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```yaml\n"+rules+"```\n") {
		t.Errorf("README.md does not show %s as it is", alertsFile)
	}
}
