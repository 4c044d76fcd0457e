//go:build race

package e2e

// raceEnabled reports whether the tests were built with -race; the popwire binary under test is
// then built with -race too, so a data race in the proxy fails its exit status check.
const raceEnabled = true
