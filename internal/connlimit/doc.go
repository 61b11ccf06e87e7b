// Package connlimit bounds how many connections an HTTP server holds open
// at once, so that a flood of connections can neither exhaust the
// process's file descriptors nor lock real clients out.
//
// A [Listener] wraps the server's net.Listener and is told each
// connection's state through its [Listener.ConnState] method, set as the
// http.Server's ConnState hook. Below the limit every connection is
// accepted. At the limit a new connection makes room by closing the
// connection that has been evictable longest: first those that have sent
// no byte of a request (new, or idle between keep-alive requests), then
// those stuck half-way through their request headers. Only when every
// connection is busy with a request (or hijacked) is the new one shed: it
// gets a short canned 503 with Connection: close and is closed at once.
// A real client sends its request as soon as it connects, so it is never
// the oldest idle connection for long, and a flood of idle or slow
// connections pushes out only its own oldest members.
//
// Each accepted connection holds one slot from Accept until it is closed,
// whoever closes it (the server, a hijacker, or the eviction), and the slot
// is given back exactly once.
package connlimit
