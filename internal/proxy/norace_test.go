//go:build !race

package proxy

// raceEnabled is set when the race detector is on: its instrumentation makes frames bigger.
const raceEnabled = false
