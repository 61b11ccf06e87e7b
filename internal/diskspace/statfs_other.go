//go:build !unix

package diskspace

import "errors"

// StatFS is not implemented on this platform: New fails and says so, and
// --min-free-disk 0 turns the reserve off.
func StatFS(string) (Usage, error) {
	return Usage{}, errors.New("measuring free disk space is not supported on this platform; run with --min-free-disk 0")
}
