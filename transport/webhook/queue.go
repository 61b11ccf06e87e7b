package webhook

import (
	"context"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

// ref is a send waiting for its receiver: only where its data is in the
// log, never the payload, so a backlog costs about a hundred bytes per
// delivery however large its body (the worker reads the body back when the
// receiver has room).
type ref struct {
	reqSeq     uint64 // the delivery.requested, redelivery.requested or test_delivery.requested entry
	payloadSeq uint64 // the entry holding the body: the build event, or the redelivery or test request
	hookSlug   string
	redelivery bool
	test       bool
	claim      *eventlog.Claim // claimed from the queue shared by several processes; nil if the log is this process's alone
}

// ticket is a send a worker took: what it is charged to until done.
type ticket struct {
	ref
	host    string // the queue it came from
	charged string // the address its slot is counted under
}

// queue holds the sends waiting for a worker, one FIFO per receiver host
// (the host and port of the hook URL, an IP literal in any spelling
// counted as its address). A worker takes the next send of the first host,
// in round-robin order, whose address has fewer than perHost sends
// running. The address is the one actually dialled, learned from each
// connection a send uses, so different names or spellings of one receiver
// share its limit once it has been reached through each of them. A slow or
// hanging receiver ties up at most perHost workers however many hooks and
// names point at it; its backlog waits here without holding up anyone,
// up to max sends in all (then put waits).
type queue struct {
	perHost int
	max     int

	mu       sync.Mutex
	cond     *sync.Cond // a send may start, or room to put
	waiting  map[string][]ref
	order    []string          // hosts with waiting sends, round-robin
	addrOf   map[string]string // host → the address it was last dialled at
	running  map[string]int    // sends in progress by address
	total    int               // sends waiting
	stopping bool
}

func newQueue(perHost, max int) *queue {
	q := &queue{
		perHost: perHost,
		max:     max,
		waiting: map[string][]ref{},
		addrOf:  map[string]string{},
		running: map[string]int{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// hostKey returns the key a hook URL's sends queue under: "host:port",
// lower-cased, the scheme's default port filled in, an IP literal written
// canonically ("0x7f000001" and "127.1" are "127.0.0.1"). A URL that does
// not parse queues under its hook.
func hostKey(rawURL, hookSlug string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return "hook " + hookSlug // a space: never a host:port
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if a, ok := domain.ParseHostAddr(u.Hostname()); ok {
		host = a.Unmap().String()
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if strings.EqualFold(u.Scheme, "http") {
			port = "80"
		}
	}
	return net.JoinHostPort(host, port)
}

// put adds a send under host, waiting while the queue is full; false if
// ctx ended or the queue stopped first.
func (q *queue) put(ctx context.Context, host string, r ref) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.total >= q.max {
		stop := context.AfterFunc(ctx, func() {
			q.mu.Lock()
			q.cond.Broadcast()
			q.mu.Unlock()
		})
		defer stop()
		for q.total >= q.max && !q.stopping && ctx.Err() == nil {
			q.cond.Wait()
		}
	}
	if q.stopping || ctx.Err() != nil {
		return false
	}
	if len(q.waiting[host]) == 0 {
		q.order = append(q.order, host)
	}
	q.waiting[host] = append(q.waiting[host], r)
	q.total++
	q.cond.Broadcast()
	return true
}

// full reports whether put would wait.
func (q *queue) full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total >= q.max
}

// len is the number of waiting sends.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

func (q *queue) addr(host string) string {
	if a, ok := q.addrOf[host]; ok {
		return a
	}
	return host
}

// take waits for a send that may start now and marks it running; false
// once the queue stops. Sends still waiting then stay in the log.
func (q *queue) take() (*ticket, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.stopping {
		if t := q.pick(); t != nil {
			return t, true
		}
		q.cond.Wait()
	}
	return nil, false
}

// pick starts the next send that may start now, or returns nil; q.mu is held.
func (q *queue) pick() *ticket {
	for i, host := range q.order {
		addr := q.addr(host)
		if q.running[addr] >= q.perHost {
			continue
		}
		waiting := q.waiting[host]
		r := waiting[0]
		waiting[0] = ref{}
		q.order = slices.Delete(q.order, i, i+1)
		if len(waiting) == 1 {
			delete(q.waiting, host)
		} else {
			q.waiting[host] = waiting[1:]
			q.order = append(q.order, host) // to the back of the round
		}
		q.total--
		q.running[addr]++
		q.cond.Broadcast() // room to put
		return &ticket{ref: r, host: host, charged: addr}
	}
	return nil
}

// dialled records the address a running send's connection goes to: the
// send is counted under it from now on, and so are later sends to its host.
func (q *queue) dialled(t *ticket, addr string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addrOf[t.host] = addr
	if t.charged == addr {
		return
	}
	q.release(t.charged)
	q.running[addr]++
	t.charged = addr
}

// done marks a send taken by take as finished.
func (q *queue) done(t *ticket) {
	q.mu.Lock()
	q.release(t.charged)
	q.mu.Unlock()
}

// release frees one slot of addr; q.mu is held.
func (q *queue) release(addr string) {
	if q.running[addr]--; q.running[addr] <= 0 {
		delete(q.running, addr)
	}
	// The address may have a send that was waiting for this one.
	q.cond.Broadcast()
}

// stop makes every take and put return false.
func (q *queue) stop() {
	q.mu.Lock()
	q.stopping = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
