// Package popclienttest provides a scripted POP3 server on loopback and throwaway
// certificates, for the tests of popclient, probe and shell. It is for tests only.
package popclienttest
