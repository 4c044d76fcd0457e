package proxy

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// settled reports whether closing c now loses nothing: no input waits to be read (a close
// with unread input resets the connection) and the peer has acknowledged every byte written
// to it, the FIN of a half-close included.
func settled(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	done := false
	rc.Control(func(fd uintptr) {
		in, inErr := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		out, outErr := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		done = inErr == nil && outErr == nil && in == 0 && out == 0
	})
	return done
}
