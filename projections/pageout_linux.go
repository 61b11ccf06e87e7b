//go:build linux

package projections

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// madvPageout is Linux's MADV_PAGEOUT (5.4 and later).
const madvPageout = 21

// pageOut asks the kernel to reclaim the resident pages of the Badger
// files (tables and value logs) under dirs that this process has mapped.
// Badger maps every table it reads or writes, so a rebuild that reads the
// whole log and writes the whole views would otherwise keep both resident,
// and its RSS would grow with the log. MADV_PAGEOUT keeps the data (file
// pages are written back if dirty and read again on the next access), so
// it is safe even on a range Badger has just unmapped and something else
// reuses. It is best effort: errors (an older kernel) change nothing.
func pageOut(dirs ...string) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// start-end perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasSuffix(f[1], "s") || !badgerFile(f[5], dirs) {
			continue
		}
		start, end, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), madvPageout)
	}
}

func badgerFile(path string, dirs []string) bool {
	if !strings.HasSuffix(path, ".sst") && !strings.HasSuffix(path, ".vlog") {
		return false
	}
	for _, d := range dirs {
		if strings.HasPrefix(path, d+string(os.PathSeparator)) {
			return true
		}
	}
	return false
}
