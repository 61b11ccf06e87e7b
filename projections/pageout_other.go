//go:build !linux

package projections

// Where madvise's advice does not exist, pages are left to the kernel.
type mapping struct{ vlog bool }

func pageOut(...string)              {}
func mappedFiles([]string) []mapping { return nil }
func dropPages([]mapping)            {}
