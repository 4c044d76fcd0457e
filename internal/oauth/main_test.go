package oauth

import (
	"os"
	"testing"
)

// TestMain lowers the cost of the key derivation for new files: the tests derive keys by the
// hundred, and the files record their own parameters. TestProductionCost checks the real one.
func TestMain(m *testing.M) {
	scryptN = 1 << 10
	os.Exit(m.Run())
}

func TestProductionCost(t *testing.T) {
	if defaultScryptN < 1<<15 || scryptR < 8 {
		t.Fatalf("scrypt N=%d r=%d, below the 2^15, 8 that interactive logins should use (RFC 7914 §2)", defaultScryptN, scryptR)
	}
	k := kdf{Name: "scrypt", N: defaultScryptN, R: scryptR, P: scryptP, Salt: make([]byte, 16)}
	if _, err := k.key("pw"); err != nil {
		t.Fatal(err)
	}
	k.N = maxScryptN * 2
	if _, err := k.key("pw"); err == nil {
		t.Fatal("a file asking for N above maxScryptN was accepted")
	}
}
