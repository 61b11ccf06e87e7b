// Package webui serves hookd's web page: one HTML page, a stylesheet, a
// script and an icon, embedded in the binary with go:embed. There is no build
// step and nothing is fetched from the network at run time.
//
// The page talks to the same JSON API as every other client (/v0.1/...). It
// asks for the API token once and keeps it in the tab's sessionStorage, and
// sends it as "Authorization: Bearer <token>". The files themselves are
// public; every API call they make is authenticated by the API as usual.
//
// Handler answers "/" with index.html and "/assets/<name>" with the other
// files, each with a strict Content-Security-Policy (only 'self'; no inline
// script or style), X-Content-Type-Options nosniff and Cache-Control no-cache
// with a strong ETag, so a browser revalidates cheaply and never runs a stale
// script after an upgrade.
package webui
