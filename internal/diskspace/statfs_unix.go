//go:build unix

package diskspace

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// StatFS measures the filesystem holding path with statfs(2).
func StatFS(path string) (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Usage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize) //nolint:unconvert // int64 on linux, uint32 elsewhere
	return Usage{Free: st.Bavail * bs, Total: st.Blocks * bs}, nil
}
