//go:build unix

package service

import (
	"fmt"
	"syscall"
)

// raiseOpenFileLimit raises the soft limit on open files (RLIMIT_NOFILE)
// to the hard limit and returns the limits in force afterwards. If the
// raise is refused (macOS refuses an unlimited hard limit), the current
// soft limit stays and raiseErr says why.
func raiseOpenFileLimit() (fileLimit, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return fileLimit{}, fmt.Errorf("read the open-file limit (RLIMIT_NOFILE): %w", err)
	}
	lim := fileLimit{known: true, soft: uint64(r.Cur), hard: uint64(r.Max), before: uint64(r.Cur)}
	if r.Cur < r.Max {
		want := r
		want.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			lim.raiseErr = fmt.Errorf("raise the open-file soft limit from %d to %d: %w", r.Cur, r.Max, err)
		} else {
			lim.soft = uint64(r.Max)
		}
	}
	return lim, nil
}
