package logview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// DefaultPollInterval is how often a followed file is checked for growth when
// ViewOptions.PollInterval is zero.
const DefaultPollInterval = 250 * time.Millisecond

// followReader reads a file like tail -f: at its end it polls for growth instead of returning
// io.EOF. If the file shrinks below what was read (truncation) it reads again from the start;
// if the path comes to name another file (rotation) it finishes the old file, then switches.
// Read returns the context's error once ctx is done.
type followReader struct {
	ctx  context.Context
	path string
	f    *os.File
	off  int64
	poll time.Duration
	// draining is set once the path names a new file: the old one is read to its end once
	// more, for lines written just before the rename, and then left.
	draining bool
}

func openFollow(ctx context.Context, path string, poll time.Duration) (*followReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("logview: follow: %w", err)
	}
	return &followReader{ctx: ctx, path: path, f: f, poll: poll}, nil
}

func (r *followReader) Read(p []byte) (int, error) {
	timer := time.NewTimer(r.poll)
	defer timer.Stop()
	for {
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		n, err := r.f.Read(p)
		r.off += int64(n)
		if n > 0 {
			return n, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("logview: follow %s: %w", r.path, err)
		}
		switched, err := r.checkReplaced()
		if err != nil {
			return 0, err
		}
		if switched {
			continue
		}
		timer.Reset(r.poll)
		select {
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		case <-timer.C:
		}
	}
}

// checkReplaced handles truncation and rotation at the end of the file. It reports whether
// reading should resume at once from a new position or file.
func (r *followReader) checkReplaced() (bool, error) {
	cur, err := r.f.Stat()
	if err != nil {
		return false, fmt.Errorf("logview: follow %s: %w", r.path, err)
	}
	if cur.Size() < r.off {
		if _, err := r.f.Seek(0, io.SeekStart); err != nil {
			return false, fmt.Errorf("logview: follow %s: %w", r.path, err)
		}
		r.off = 0
		return true, nil
	}
	named, err := os.Stat(r.path)
	if err != nil || os.SameFile(cur, named) {
		return false, nil // removed and not yet recreated, or unchanged: wait
	}
	if !r.draining {
		r.draining = true
		return true, nil
	}
	next, err := os.Open(r.path)
	if err != nil {
		return false, nil // the new file may not be readable yet: wait
	}
	_ = r.f.Close() // read-only: nothing to lose
	r.f, r.off, r.draining = next, 0, false
	return true, nil
}

func (r *followReader) Close() error { return r.f.Close() }
