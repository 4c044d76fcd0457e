package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/scrypt"
)

// kdf is the scrypt key derivation recorded in a token file: its parameters and the
// file's random salt.
type kdf struct {
	Name string `json:"name"` // always "scrypt"
	N    int    `json:"n"`
	R    int    `json:"r"`
	P    int    `json:"p"`
	Salt []byte `json:"salt"`
}

// The scrypt parameters of new files: N = 2^15, r = 8 cost about 100 ms and 32 MiB for each
// unlock, which a Source does once per account (the key is then kept in memory). maxScryptN
// bounds what a file may ask for, so that an edited file cannot make an unlock take minutes.
const (
	defaultScryptN = 1 << 15
	scryptR        = 8
	scryptP        = 1
	maxScryptN     = 1 << 20
	keySize        = 32
)

// scryptN is the N of new files: defaultScryptN, lowered only by tests to keep them fast.
var scryptN = defaultScryptN

// newKDF returns the parameters of a new file, with a fresh 16-byte salt.
func newKDF() (kdf, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return kdf{}, fmt.Errorf("oauth: no random salt: %w", err)
	}
	return kdf{Name: "scrypt", N: scryptN, R: scryptR, P: scryptP, Salt: salt}, nil
}

// key derives the AES-256 key of password with k.
func (k kdf) key(password string) ([]byte, error) {
	if k.Name != "scrypt" || k.N < 2 || k.N > maxScryptN || k.R < 1 || k.R > 32 || k.P < 1 || k.P > 16 || len(k.Salt) < 16 {
		return nil, errors.New("unsupported key derivation parameters")
	}
	return scrypt.Key([]byte(password), k.Salt, k.N, k.R, k.P, keySize)
}

// seal encrypts plain with key under AES-256-GCM, authenticating aad too; the result is the
// random nonce followed by the ciphertext.
func seal(key, plain, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plain)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("oauth: no random nonce: %w", err)
	}
	return gcm.Seal(nonce, nonce, plain, aad), nil
}

// errOpen is what open returns for any failure to decrypt: a wrong key, or a file that was
// altered.
var errOpen = errors.New("the key does not open the sealed data")

// open decrypts what seal returned.
func open(key, sealed, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errOpen
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
	if err != nil {
		return nil, errOpen
	}
	return plain, nil
}

// newGCM returns AES-GCM for key.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	return cipher.NewGCM(block)
}
