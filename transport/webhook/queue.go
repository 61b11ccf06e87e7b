package webhook

import (
	"context"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// queue holds the sends waiting for a worker, one FIFO per destination
// (the host and port of the hook URL, so hooks that share a receiver share
// its limit). A worker takes the next send of the first destination, in
// round-robin order, that has fewer than perHost sends running, so a slow
// or hanging receiver ties up at most perHost workers however many hooks
// point at it, and the others keep serving everyone else. Its backlog
// waits here; when capacity sends are waiting, put blocks.
type queue struct {
	perHost int
	slots   chan struct{} // one token per waiting send

	mu       sync.Mutex
	cond     *sync.Cond
	waiting  map[string][]job // by destination
	order    []string         // destinations with waiting sends, round-robin
	running  map[string]int   // sends in progress by destination
	stopping bool
}

func newQueue(perHost, capacity int) *queue {
	q := &queue{
		perHost: perHost,
		slots:   make(chan struct{}, capacity),
		waiting: map[string][]job{},
		running: map[string]int{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// destination is the key a job's concurrency is counted under: the
// lower-cased host and port its request goes to, the scheme's default port
// filled in ("example.com:443"). A job that sends nothing (its hook was
// removed) or whose URL does not parse is counted under its hook.
func destination(j job) string {
	if j.hookFound {
		if key, ok := hostPortKey(j.hook.URL); ok {
			return key
		}
	}
	return "hook " + j.hookSlug // a space: never a host:port
}

// hostPortKey returns "host:port" for an http or https URL.
func hostPortKey(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return "", false
	}
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "http":
			port = "80"
		case "https":
			port = "443"
		default:
			return "", false
		}
	}
	return net.JoinHostPort(host, port), true
}

// put adds a send, waiting for room; false if ctx ended first.
func (q *queue) put(ctx context.Context, j job) bool {
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	key := destination(j)
	q.mu.Lock()
	if len(q.waiting[key]) == 0 {
		q.order = append(q.order, key)
	}
	q.waiting[key] = append(q.waiting[key], j)
	q.mu.Unlock()
	q.cond.Signal()
	return true
}

// take waits for a send that may start now and marks it running; false
// once the queue stops. Sends still waiting then are left for recovery.
func (q *queue) take() (job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.stopping {
		for i, key := range q.order {
			if q.running[key] >= q.perHost {
				continue
			}
			waiting := q.waiting[key]
			j := waiting[0]
			waiting[0] = job{}
			q.order = slices.Delete(q.order, i, i+1)
			if len(waiting) == 1 {
				delete(q.waiting, key)
			} else {
				q.waiting[key] = waiting[1:]
				q.order = append(q.order, key) // to the back of the round
			}
			q.running[key]++
			<-q.slots
			return j, true
		}
		q.cond.Wait()
	}
	return job{}, false
}

// done marks a send taken by take as finished.
func (q *queue) done(j job) {
	key := destination(j)
	q.mu.Lock()
	if q.running[key]--; q.running[key] <= 0 {
		delete(q.running, key)
	}
	q.mu.Unlock()
	// The destination may have a send that was waiting for this one.
	q.cond.Broadcast()
}

// stop makes every take return false.
func (q *queue) stop() {
	q.mu.Lock()
	q.stopping = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
