package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a child gets to exit after SIGTERM before it is killed.
const stopGrace = 3 * time.Second

// child is a process the harness started; done is closed once it has been waited for.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the Wait result, valid after done is closed
}

// children tracks every process the harness started so that all of them can be killed on any
// exit path, Ctrl-C included. The zero value is ready to use.
type children struct {
	mu   sync.Mutex
	live map[*child]struct{}
}

// start runs cmd with SIGKILL as its parent-death signal, so that it cannot outlive the
// harness even if the harness itself is killed.
func (cs *children) start(cmd *exec.Cmd) (*child, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", cmd.Path, err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	cs.mu.Lock()
	if cs.live == nil {
		cs.live = make(map[*child]struct{})
	}
	cs.live[c] = struct{}{}
	cs.mu.Unlock()
	go cs.reap(c)
	return c, nil
}

// reap waits for c to exit, records how it ended and forgets it.
func (cs *children) reap(c *child) {
	c.err = c.cmd.Wait()
	close(c.done)
	cs.mu.Lock()
	delete(cs.live, c)
	cs.mu.Unlock()
}

// pid returns the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the child has already exited, with its Wait error.
func (c *child) exited() (bool, error) {
	select {
	case <-c.done:
		if c.err == nil {
			return true, errors.New("exited")
		}
		return true, c.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM, waits up to stopGrace, then kills the child; it returns once the child
// has been reaped.
func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(stopGrace):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// killAll kills every live child by its pid and waits briefly for them to be reaped.
func (cs *children) killAll() {
	cs.mu.Lock()
	list := make([]*child, 0, len(cs.live))
	for c := range cs.live {
		list = append(list, c)
	}
	cs.mu.Unlock()
	for _, c := range list {
		c.cmd.Process.Kill()
	}
	for _, c := range list {
		select {
		case <-c.done:
		case <-time.After(stopGrace):
			fmt.Fprintf(os.Stderr, "bench: pid %d did not exit after SIGKILL\n", c.pid())
		}
	}
}
