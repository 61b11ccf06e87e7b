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

// Linux's madvise advice values (MADV_PAGEOUT: 5.4 and later).
const (
	madvDontNeed = 4
	madvPageout  = 21
)

// pageOut asks the kernel to reclaim the resident pages of the Badger
// files (tables and value logs) under dirs that this process has mapped.
// Badger maps every table it reads or writes, so a rebuild that reads the
// whole log and writes the whole views would otherwise keep both resident,
// and its RSS would grow with the log. MADV_PAGEOUT keeps the data (file
// pages are written back if dirty and read again on the next access), so
// it is safe even on a range Badger has just unmapped and something else
// reuses. It is best effort: errors (an older kernel) change nothing.
func pageOut(dirs ...string) {
	for _, m := range mappedFiles(dirs) {
		madvise(m, madvPageout)
	}
}

// mapping is one shared mapping of a file.
type mapping struct {
	lo, n uintptr
	vlog  bool // of a value log
}

// dropPages takes the pages of ms out of this process's RSS and leaves
// them in the page cache (MADV_DONTNEED), so that reading them again costs
// no I/O while they stay cached. On a range that was unmapped and reused
// by the Go heap it would zero memory: ms must be the mappings of a
// database opened read-only (which maps its files once, at open), and
// dropPages must not be called once it is closed.
func dropPages(ms []mapping) {
	for _, m := range ms {
		madvise(m, madvDontNeed)
	}
}

func madvise(m mapping, advice int) {
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, m.lo, m.n, uintptr(advice))
}

// mappedFiles lists this process's shared mappings of Badger files under dirs.
func mappedFiles(dirs []string) []mapping {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil
	}
	var out []mapping
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
		out = append(out, mapping{lo: uintptr(lo), n: uintptr(hi - lo), vlog: strings.HasSuffix(f[5], ".vlog")})
	}
	return out
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
