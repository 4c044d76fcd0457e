package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// process is a child started so that it receives SIGKILL if the test binary dies (a panic or
// a -timeout), and can be stopped by its pid.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the Wait result; valid once done is closed
}

// startProcess starts cmd. Its stdout and stderr must already be set (to files: a pipe left
// open by a daemon's children would block Wait).
func startProcess(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go p.run(started)
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// run starts the child and waits for it on one locked OS thread: Pdeathsig fires when the
// thread that forked the child exits, so that thread must live as long as the child.
func (p *process) run(started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if p.cmd.SysProcAttr == nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	p.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := p.cmd.Start(); err != nil {
		started <- fmt.Errorf("e2e: start %s: %w", p.cmd.Path, err)
		return
	}
	started <- nil
	p.err = p.cmd.Wait()
	close(p.done)
}

// stop sends sig and waits up to grace for the exit, then kills. It returns the exit error
// (nil for status 0) and whether the process had to be killed.
func (p *process) stop(sig os.Signal, grace time.Duration) (exitErr error, killed bool) {
	select {
	case <-p.done:
		return p.err, false
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("e2e: signal %d: %w", p.cmd.Process.Pid, err), false
	}
	select {
	case <-p.done:
		return p.err, false
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return p.err, true
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
