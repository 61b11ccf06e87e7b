// Package httpapi is hookd's HTTP API, following the paths and JSON shapes
// of the Bitrise API v0.1 for outgoing webhooks. Handlers decode and
// validate through the domain, append events to the log or read the
// projections, and encode; errors become status codes in errors.go only.
package httpapi
