package oauth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// refreshLockPoll is how often lockRefresh tries again a lock another process holds.
const refreshLockPoll = 10 * time.Millisecond

// errLockBusy is what tryLock returns when another open file holds the lock.
var errLockBusy = errors.New("oauth: the refresh lock is held")

// lockPath returns the path of the refresh lock of address: a dot file beside its token
// file, which List skips.
func (s *Store) lockPath(address string) (string, error) {
	path, err := s.Path(address)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.Dir, "."+filepath.Base(path)+".lock"), nil
}

// lockRefresh takes the refresh lock of address: an advisory exclusive lock (flock(2) on
// Unix, LockFileEx on Windows) on its lock file, which every popwire process sharing the
// directory takes before it refreshes the account's token, so that they refresh one at a time
// and each sees the token the one before it stored. A provider that rotates refresh tokens
// refuses the old one: two refreshes with it, one per process, would leave one of them
// refused (and some providers then revoke the account). It waits, trying every
// refreshLockPoll, until ctx is done; the returned function releases the lock.
func (s *Store) lockRefresh(ctx context.Context, address string) (unlock func(), err error) {
	path, err := s.lockPath(address)
	if err != nil {
		return nil, err
	}
	if err := s.checkDir(true); err != nil {
		return nil, err
	}
	if info, err := os.Lstat(path); err == nil && !info.Mode().IsRegular() {
		return nil, fmt.Errorf("oauth: the refresh lock %s is not a regular file: remove it", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("oauth: the refresh lock of %s: %w", address, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("oauth: the refresh lock of %s: %w", address, err)
	}
	for {
		err := tryLock(f)
		if err == nil {
			return func() { f.Close() }, nil // closing the file releases the lock
		}
		if !errors.Is(err, errLockBusy) {
			f.Close()
			return nil, fmt.Errorf("oauth: the refresh lock of %s: %w", address, err)
		}
		t := time.NewTimer(refreshLockPoll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, &kindError{ErrUnreachable, fmt.Sprintf("oauth: gave up waiting for another popwire's refresh of %s's token: try again", address)}
		}
	}
}
