package main

import (
	"bytes"
	"fmt"
	"net"
	"sync"
)

// hangingReceiver is a webhook receiver that never answers: it accepts
// TCP connections on 127.0.0.1, reads whatever each sends and holds it
// open until the peer closes it (hookd gives up after its --send-timeout)
// or the receiver is closed. It counts the requests (connections whose
// request head arrived) and the most it held at once. At most limit
// connections are held; more are closed as they come, so a sender that
// opens connections without bound cannot exhaust file descriptors.
type hangingReceiver struct {
	ln    net.Listener
	url   string
	limit int
	wg    sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	conns     map[net.Conn]bool // open connections; true once a request head arrived
	requests  int64
	peak      int
	refused   int64
	acceptErr error
}

// maxHeadBytes is how much of a request is read looking for the end of
// its head; a longer head counts as a request all the same.
const maxHeadBytes = 64 << 10

func startHanging(limit int) (*hangingReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("hanging receiver listen: %w", err)
	}
	h := &hangingReceiver{ln: ln, url: "http://" + ln.Addr().String(), limit: limit, conns: map[net.Conn]bool{}}
	h.wg.Add(1)
	go h.serve()
	return h, nil
}

func (h *hangingReceiver) serve() {
	defer h.wg.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			h.mu.Lock()
			if !h.closed {
				// The scenario sees it: the sends to H fail instead of hanging.
				h.acceptErr = err
			}
			h.mu.Unlock()
			return
		}
		h.mu.Lock()
		if h.closed || len(h.conns) >= h.limit {
			h.refused++
			h.mu.Unlock()
			_ = c.Close()
			continue
		}
		h.conns[c] = false
		h.wg.Add(1)
		h.mu.Unlock()
		go h.hold(c)
	}
}

// hold reads c until its end, never writing.
func (h *hangingReceiver) hold(c net.Conn) {
	defer h.wg.Done()
	defer func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		_ = c.Close()
	}()
	buf := make([]byte, 4096)
	var head []byte
	seen := false
	for {
		n, err := c.Read(buf)
		if n > 0 && !seen {
			head = append(head, buf[:n]...)
			if bytes.Contains(head, []byte("\r\n\r\n")) || len(head) > maxHeadBytes {
				seen, head = true, nil
				h.arrived(c)
			}
		}
		if err != nil {
			return
		}
	}
}

// arrived counts c's request and how many requests are held now. A peer
// that gave up may not have been noticed by its reader yet, so those
// whose peer has closed are not counted: hookd closes a connection before
// it frees that receiver's slot for the next send.
func (h *hangingReceiver) arrived(c net.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conns[c] = true
	h.requests++
	n := 0
	for oc, req := range h.conns {
		if req && (oc == c || !peerClosed(oc)) {
			n++
		}
	}
	h.peak = max(h.peak, n)
}

// stats returns the requests received, the most held at once, the
// connections refused over the limit and why accepting stopped early.
func (h *hangingReceiver) stats() (requests int64, peak int, refused int64, acceptErr error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests, h.peak, h.refused, h.acceptErr
}

// close stops accepting and closes every held connection.
func (h *hangingReceiver) close() {
	h.mu.Lock()
	h.closed = true
	_ = h.ln.Close()
	for c := range h.conns {
		_ = c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}
