// Package service builds a running hookd from its Config: the log, the
// views and their runner, the dispatcher, the HTTP API, metrics and the
// guards around them (disk reserve, file-descriptor budget, chain
// verifier). It is the one constructor `hookd serve` and the tests use.
package service
