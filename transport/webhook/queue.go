package webhook

import (
	"context"
	"slices"
	"sync"
)

// queue holds the sends waiting for a worker, one FIFO per hook. A worker
// takes the next send of the first hook, in round-robin order, that has
// fewer than perHook sends running, so a slow or hanging receiver ties up
// at most perHook workers and the others keep serving the other hooks.
// Its backlog waits here; when capacity sends are waiting, put blocks.
type queue struct {
	perHook int
	slots   chan struct{} // one token per waiting send

	mu       sync.Mutex
	cond     *sync.Cond
	waiting  map[string][]job // by hook slug
	order    []string         // hooks with waiting sends, round-robin
	running  map[string]int   // sends in progress by hook slug
	stopping bool
}

func newQueue(perHook, capacity int) *queue {
	q := &queue{
		perHook: perHook,
		slots:   make(chan struct{}, capacity),
		waiting: map[string][]job{},
		running: map[string]int{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// put adds a send, waiting for room; false if ctx ended first.
func (q *queue) put(ctx context.Context, j job) bool {
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	q.mu.Lock()
	if len(q.waiting[j.hookSlug]) == 0 {
		q.order = append(q.order, j.hookSlug)
	}
	q.waiting[j.hookSlug] = append(q.waiting[j.hookSlug], j)
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
		for i, slug := range q.order {
			if q.running[slug] >= q.perHook {
				continue
			}
			waiting := q.waiting[slug]
			j := waiting[0]
			waiting[0] = job{}
			q.order = slices.Delete(q.order, i, i+1)
			if len(waiting) == 1 {
				delete(q.waiting, slug)
			} else {
				q.waiting[slug] = waiting[1:]
				q.order = append(q.order, slug) // to the back of the round
			}
			q.running[slug]++
			<-q.slots
			return j, true
		}
		q.cond.Wait()
	}
	return job{}, false
}

// done marks a send taken by take as finished.
func (q *queue) done(j job) {
	q.mu.Lock()
	if q.running[j.hookSlug]--; q.running[j.hookSlug] <= 0 {
		delete(q.running, j.hookSlug)
	}
	q.mu.Unlock()
	// The hook may have a send that was waiting for this one.
	q.cond.Broadcast()
}

// stop makes every take return false.
func (q *queue) stop() {
	q.mu.Lock()
	q.stopping = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
