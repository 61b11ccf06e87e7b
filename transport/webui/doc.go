// Package webui serves hookd's web page: one HTML page, a stylesheet, a
// script and an icon, embedded in the binary with go:embed. There is no build
// step and nothing is fetched from the network at run time.
//
// The page talks to the same JSON API as every other client (/v0.1/...). It
// asks for the API token once and keeps it in the tab's sessionStorage, and
// sends it as "Authorization: Bearer <token>". The files themselves are
// public; every API call they make is authenticated by the API as usual.
//
// GET /v0.1/me says whose the token is; the page shows its name, scopes,
// apps and expiry, and offers only what it may do: its apps as a choice
// (its one app opened without asking), the controls that change hooks or
// redeliver only with apps:write, the log (its entries and the live
// stream) only with admin, and for an ingest-only token a note instead of
// the hooks. The API decides regardless; a 403 shows as its message, and
// a 401 signs out with the server's message.
//
// For an admin token the delivery list is live (other tokens poll every
// 5 s): the script follows the log's Server-Sent
// Events stream (GET /v0.1/log/entries, Accept: text/event-stream) with
// fetch and a small parser rather than EventSource, which cannot send an
// Authorization header, so the token never goes into a URL. Each
// connection starts after the log's head; a delivery.attempted entry of
// the open hook refetches the list's first page, at most once a second.
//
// Handler answers "/" with index.html and "/assets/<name>" with the other
// files, each with a strict Content-Security-Policy (only 'self'; no inline
// script or style), X-Content-Type-Options nosniff and Cache-Control no-cache
// with a strong ETag, so a browser revalidates cheaply and never runs a stale
// script after an upgrade.
package webui
