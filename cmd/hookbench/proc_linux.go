package main

import (
	"errors"
	"io/fs"
	"net"
	"os/exec"
	"syscall"
)

// setChildAttrs has the kernel kill hookd if this process dies first, so
// an interrupted benchmark leaves nothing running.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// allocated is the disk space a file takes (Badger preallocates sparse files).
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// peerClosed reports whether the peer of c has closed or reset the
// connection, without reading from it: a peek that returns no bytes (end
// of stream) or an error other than "nothing yet".
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (err == nil && n == 0) ||
			(err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR))
	})
	return closed
}
