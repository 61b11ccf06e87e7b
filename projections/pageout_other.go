//go:build !linux

package projections

import "time"

// pageOut is a no-op where MADV_PAGEOUT does not exist.
func pageOut(...string) {}

// pageOutEvery does nothing where pageOut does nothing.
func pageOutEvery(time.Duration, ...string) (stop func()) { return func() {} }
