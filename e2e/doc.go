// Package e2e holds the end-to-end tests of popwire: they build the real binary and run it
// between a private Dovecot instance on loopback and real POP3 clients (curl, Python's poplib,
// fetchmail), checking that every message arrives byte-exact. One test also runs the benchmark
// harness (bench/) once at its smallest sizes, to check that it still works.
//
// The tests skip with a message when Dovecot or a client is not installed, unless the
// environment variable POPWIRE_E2E is "require" (as scripts/test sets it), in which case a
// missing tool fails the test.
package e2e
