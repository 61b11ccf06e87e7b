//go:build !unix

package service

// raiseOpenFileLimit does nothing where there is no RLIMIT_NOFILE; the
// limit is then unknown and --max-connections defaults to
// defaultMaxConnectionsUnknownLimit.
func raiseOpenFileLimit() (fileLimit, error) { return fileLimit{}, nil }
