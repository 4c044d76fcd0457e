package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Store is the token store: one file per account, ACCOUNT.json with its unsafe characters
// escaped, in Dir (mode 0700), each file mode 0600 and written atomically (a temporary file,
// then rename). A file records in the clear what is needed to refresh (provider, endpoints,
// client ID, scopes) and what `auth list` shows (expiry, last refresh, granted scope); the
// refresh token, the access token and the client secret are sealed with AES-256-GCM under a
// key derived by scrypt from the local password and the file's random salt, and the seal
// authenticates the clear part too. Its methods take no lock; lockRefresh is the lock, shared
// by every process using Dir, that Tokens takes around a refresh.
type Store struct {
	Dir string // the accounts directory, such as DefaultDir's
}

// DefaultDir returns $XDG_CONFIG_HOME/popwire/accounts, or ~/.config/popwire/accounts when
// XDG_CONFIG_HOME is unset or relative.
func DefaultDir() (string, error) {
	if x := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "popwire", "accounts"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("oauth: no config directory: %w", err)
	}
	return filepath.Join(home, ".config", "popwire", "accounts"), nil
}

// Account is what a token file records in the clear: no secret.
type Account struct {
	Address       string    `json:"address"`
	Provider      string    `json:"provider"`
	AuthURL       string    `json:"auth_url,omitempty"`
	TokenURL      string    `json:"token_url"`
	DeviceURL     string    `json:"device_url,omitempty"`
	RevocationURL string    `json:"revocation_url,omitempty"`
	ClientID      string    `json:"client_id"`
	Scopes        []string  `json:"scopes,omitempty"`
	Mechanism     string    `json:"mechanism"`        // XOAUTH2 or OAUTHBEARER
	Tenant        string    `json:"tenant,omitempty"` // Microsoft's authority
	Scope         string    `json:"scope,omitempty"`  // what the provider granted
	Expiry        time.Time `json:"expiry"`           // of the access token; zero if unknown
	LastRefresh   time.Time `json:"last_refresh"`     // of the access token: the login, then each refresh
}

// provider returns the Provider that refreshes a's token, with clientSecret.
func (a Account) provider(clientSecret string) Provider {
	m, _ := ParseMechanism(a.Mechanism) // an unknown name is XOAUTH2, the zero Mechanism
	return Provider{Name: a.Provider, AuthURL: a.AuthURL, TokenURL: a.TokenURL, DeviceURL: a.DeviceURL,
		RevocationURL: a.RevocationURL, ClientID: a.ClientID, ClientSecret: clientSecret, Scopes: a.Scopes,
		Mechanism: m, Tenant: a.Tenant}
}

// secrets is the sealed part of a token file.
type secrets struct {
	RefreshToken string `json:"refresh_token"`
	AccessToken  string `json:"access_token,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

// fileVersion is the version of the token file format.
const fileVersion = 1

// tokenFile is a token file. Sealed is the seal of the JSON of a secrets, with the JSON of
// the file without Sealed as additional data.
type tokenFile struct {
	Version int `json:"version"`
	Account
	KDF    kdf    `json:"kdf"`
	Sealed []byte `json:"sealed,omitempty"`
}

// aad returns what the seal authenticates besides the secrets: the file's clear part.
func (f *tokenFile) aad() []byte {
	c := *f
	c.Sealed = nil
	b, _ := json.Marshal(c) // strings, times and byte slices always marshal
	return b
}

// sealWith seals sec into f with key.
func (f *tokenFile) sealWith(key []byte, sec secrets) error {
	f.Sealed = nil
	plain, _ := json.Marshal(sec)
	sealed, err := seal(key, plain, f.aad())
	f.Sealed = sealed
	return err
}

// openWith opens f's secrets with key; a wrong key, or an altered file, gives errOpen.
func (f *tokenFile) openWith(key []byte) (secrets, error) {
	plain, err := open(key, f.Sealed, f.aad())
	if err != nil {
		return secrets{}, err
	}
	var sec secrets
	if err := json.Unmarshal(plain, &sec); err != nil {
		return secrets{}, errOpen
	}
	return sec, nil
}

// openWithPassword derives f's key from password and opens f's secrets with it. A key
// derivation popwire refuses (an edited file) wraps ErrNoToken, a password that does not open
// the file ErrWrongPassword.
func (f *tokenFile) openWithPassword(password string) (key []byte, sec secrets, err error) {
	key, err = f.KDF.key(password)
	if err != nil {
		return nil, secrets{}, &kindError{ErrNoToken, fmt.Sprintf("oauth: the token file of %s cannot be unlocked (%v): %s", f.Address, err, loginHint(f.Address))}
	}
	if sec, err = f.openWith(key); err != nil {
		clear(key)
		return nil, secrets{}, wrongPasswordError(f.Address)
	}
	return key, sec, nil
}

// maxFileSize bounds what load reads: a token file is about 2 KiB.
const maxFileSize = 1 << 20

// Path returns the file of address, or an error for an address that cannot be an
// account's.
func (s *Store) Path(address string) (string, error) {
	if address == "" || len(address) > 320 {
		return "", fmt.Errorf("oauth: %q is not an account address (1 to 320 characters)", address)
	}
	for _, r := range address {
		if r < 0x20 || r == 0x7f {
			return "", errors.New("oauth: an account address may not contain control characters")
		}
	}
	return filepath.Join(s.Dir, escapeName(address)+".json"), nil
}

// escapeName turns address into a file name that is safe on any file system and names
// only one address: every byte but ASCII letters, digits, '@', '+', '-', '_' and a '.'
// that does not start the name becomes %XX.
func escapeName(address string) string {
	var b strings.Builder
	for i := 0; i < len(address); i++ {
		c := address[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '@', c == '+', c == '-', c == '_',
			c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// checkDir refuses a Dir that others may read or enter, or that is not a directory;
// create makes a missing one with mode 0700.
func (s *Store) checkDir(create bool) error {
	info, err := os.Lstat(s.Dir)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := os.MkdirAll(s.Dir, 0o700); err != nil {
			return fmt.Errorf("oauth: creating the token directory: %w", err)
		}
		info, err = os.Lstat(s.Dir)
	}
	switch {
	case err != nil:
		return err
	case !info.IsDir():
		return fmt.Errorf("oauth: the token directory %s is not a directory", s.Dir)
	case info.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("oauth: the token directory %s has mode %04o, open to other users: run chmod 700 %s", s.Dir, info.Mode().Perm(), s.Dir)
	}
	return nil
}

// load reads the file of address. Every error wraps ErrNoToken: the account has no usable
// token, whether its file is missing or refused (see read).
func (s *Store) load(address string) (*tokenFile, error) {
	f, err := s.read(address)
	var ke *kindError
	if err != nil && !errors.As(err, &ke) {
		err = &kindError{ErrNoToken, err.Error()}
	}
	return f, err
}

// read reads the file of address. A missing file (or directory) gives noTokenError; a file
// that others may read, that is not a regular file, or that is not a token file is refused.
func (s *Store) read(address string) (*tokenFile, error) {
	path, err := s.Path(address)
	if err != nil {
		return nil, err
	}
	if err := s.checkDir(false); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, noTokenError(address)
		}
		return nil, err
	}
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, noTokenError(address)
	case err != nil:
		return nil, fmt.Errorf("oauth: reading the token of %s: %w", address, err)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("oauth: the token file %s is not a regular file: remove it and run popwire auth login %s", path, address)
	case info.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("oauth: the token file %s has mode %04o, open to other users: run chmod 600 %s (and, if others could read it, popwire auth login %s with a new local password)",
			path, info.Mode().Perm(), path, address)
	case info.Size() > maxFileSize:
		return nil, fmt.Errorf("oauth: the token file %s is too large to be one: remove it and run popwire auth login %s", path, address)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("oauth: reading the token of %s: %w", address, err)
	}
	var f tokenFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != fileVersion || f.Address != address {
		return nil, fmt.Errorf("oauth: %s is not a token file of popwire for %s: remove it and run popwire auth login %s", path, address, address)
	}
	return &f, nil
}

// write stores f atomically: a temporary file of mode 0600 in Dir, synced, then renamed
// over the account's file.
func (s *Store) write(f *tokenFile) error {
	path, err := s.Path(f.Address)
	if err != nil {
		return err
	}
	if err := s.checkDir(true); err != nil {
		return err
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("oauth: %w", err)
	}
	tmp, err := os.CreateTemp(s.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("oauth: saving the token of %s: %w", f.Address, err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("oauth: saving the token of %s: %w", f.Address, err)
	}
	if d, err := os.Open(s.Dir); err == nil {
		_ = d.Sync() // make the rename durable where the file system allows it
		_ = d.Close()
	}
	return nil
}

// create writes a new file for acct, sealing sec under password with a fresh salt.
func (s *Store) create(acct Account, sec secrets, password string) error {
	k, err := newKDF()
	if err != nil {
		return err
	}
	key, err := k.key(password)
	if err != nil {
		return fmt.Errorf("oauth: %w", err)
	}
	defer clear(key)
	f := &tokenFile{Version: fileVersion, Account: acct, KDF: k}
	if err := f.sealWith(key, sec); err != nil {
		return err
	}
	return s.write(f)
}

// Delete removes the file of address and its refresh lock; a missing file wraps ErrNoToken.
func (s *Store) Delete(address string) error {
	path, err := s.Path(address)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return noTokenError(address)
		}
		return fmt.Errorf("oauth: removing the token of %s: %w", address, err)
	}
	if lock, err := s.lockPath(address); err == nil {
		_ = os.Remove(lock) // the account is gone; a refresh waiting on the lock finds no file
	}
	return nil
}

// List returns the accounts of every token file, sorted by address; files that are not
// token files are skipped. A missing Dir is an empty store.
func (s *Store) List() ([]Account, error) {
	if err := s.checkDir(false); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("oauth: listing the token directory: %w", err)
	}
	var out []Account
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.Dir, e.Name()))
		var f tokenFile
		if err != nil || json.Unmarshal(b, &f) != nil || f.Version != fileVersion || escapeName(f.Address)+".json" != e.Name() {
			continue
		}
		out = append(out, f.Account)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out, nil
}
