package webhook

import (
	"sync"

	"github.com/hookd/hookd/domain"
)

// payload is what a first delivery needs of its build event.
type payload struct {
	eventID, eventType, appSlug string
	body                        []byte
}

func payloadOf(ev domain.BuildEventReceived) payload {
	return payload{eventID: ev.EventID, eventType: ev.EventType, appSlug: ev.AppSlug, body: ev.Build.Body()}
}

// delivery is the first delivery of the payload to a hook.
func (p payload) delivery(hookSlug string) delivery {
	return delivery{deliveryID: domain.DeliveryID(p.eventID, hookSlug), buildEventID: p.eventID,
		eventType: p.eventType, appSlug: p.appSlug, body: p.body}
}

// payloadCache keeps the payloads of recently matched build events, up to
// a bound in bytes, so a send right after matching (the usual case) does
// not read and decode its build event again, once per hook. What it has
// evicted (a backlog waiting for a slow receiver) is read back from the
// log: memory stays bounded whatever waits.
type payloadCache struct {
	mu    sync.Mutex
	max   int
	bytes int
	bySeq map[uint64]payload
	order []uint64 // insertion order, oldest first
}

func newPayloadCache(maxBytes int) *payloadCache {
	return &payloadCache{max: maxBytes, bySeq: map[uint64]payload{}}
}

func (p payload) size() int {
	return len(p.body) + len(p.eventID) + len(p.eventType) + len(p.appSlug) + 96
}

func (c *payloadCache) put(seq uint64, p payload) {
	if p.size() > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.bySeq[seq]; ok {
		return
	}
	c.bySeq[seq] = p
	c.order = append(c.order, seq)
	c.bytes += p.size()
	for c.bytes > c.max && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.bytes -= c.bySeq[old].size()
		delete(c.bySeq, old)
	}
}

func (c *payloadCache) get(seq uint64) (payload, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.bySeq[seq]
	return p, ok
}
