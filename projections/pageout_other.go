//go:build !linux

package projections

// pageOut is a no-op where MADV_PAGEOUT does not exist.
func pageOut(...string) {}
