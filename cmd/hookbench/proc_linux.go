package main

import (
	"io/fs"
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
