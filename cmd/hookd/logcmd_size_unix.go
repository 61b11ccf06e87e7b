//go:build unix

package main

import (
	"io/fs"
	"syscall"
)

// allocatedBytes is what a file takes on disk: its allocated blocks, so a
// sparse file (Badger preallocates some) counts for what it holds.
func allocatedBytes(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return info.Size()
}
