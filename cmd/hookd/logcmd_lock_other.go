//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package main

import "os"

// lockPartial does nothing where there is no flock: a stale partial file
// is then any partial file, and two exports to one file at once may
// remove each other's.
func lockPartial(*os.File) error { return nil }

// partialInUse reports false: without flock it cannot tell.
func partialInUse(string) bool { return false }
