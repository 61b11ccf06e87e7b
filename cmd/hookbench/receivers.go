package main

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// receivers are local webhook receivers: HTTP servers on 127.0.0.1, each on
// its own port (hookd limits concurrency per host:port), in this process.
// A handler reads the body, notes when it arrived and the delivery's
// Webhook-Id and build_slug in the current tally, and answers 200 with an
// empty body.
type receivers struct {
	urls    []string // http://127.0.0.1:port, one per server
	servers []*http.Server
	cur     atomic.Pointer[tally]
	served  sync.WaitGroup
}

func startReceivers(n int) (*receivers, error) {
	r := &receivers{}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.close()
			return nil, fmt.Errorf("receiver listen: %w", err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		r.urls = append(r.urls, "http://"+ln.Addr().String())
		r.servers = append(r.servers, srv)
		r.served.Add(1)
		go func() {
			defer r.served.Done()
			// Serve ends with ErrServerClosed at close; any other end shows
			// in the scenario as deliveries that stop arriving.
			_ = srv.Serve(ln)
		}()
	}
	return r, nil
}

func (r *receivers) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range r.servers {
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
		}
	}
	r.served.Wait()
}

// track makes t the tally receipts are counted in (nil: none).
func (r *receivers) track(t *tally) { r.cur.Store(t) }

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (r *receivers) handle(w http.ResponseWriter, req *http.Request) {
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := io.Copy(buf, req.Body)
	at := time.Now()
	if err == nil {
		if t := r.cur.Load(); t != nil {
			t.record(req.Header.Get("Webhook-Id"), buildSlug(buf.Bytes()), at)
		}
	}
	bodyPool.Put(buf)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

var slugField = []byte(`"build_slug":"`)

// buildSlug finds the build_slug in a delivery body without decoding it all.
func buildSlug(body []byte) string {
	i := bytes.Index(body, slugField)
	if i < 0 {
		return ""
	}
	rest := body[i+len(slugField):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// keyKind says what makes two receipts the same delivery.
type keyKind int

const (
	byWebhookID keyKind = iota // one per (build event, hook): hookd's Webhook-Id
	bySlug                     // one per build event (scenarios with one hook)
)

// tally counts the receipts of one measurement: distinct deliveries, their
// arrival times, duplicates and the first and last arrival.
type tally struct {
	key      keyKind
	expected int64
	got      atomic.Int64
	dups     atomic.Int64
	unkeyed  atomic.Int64
	first    atomic.Int64 // unix nanos of the first receipt
	last     atomic.Int64 // unix nanos of the latest receipt
	seed     maphash.Seed
	shards   [64]tallyShard
}

type tallyShard struct {
	mu sync.Mutex
	at map[string]int64
}

func newTally(key keyKind, expected int) *tally {
	t := &tally{key: key, expected: int64(expected), seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].at = make(map[string]int64, expected/len(t.shards)+1)
	}
	return t
}

func (t *tally) record(webhookID, slug string, at time.Time) {
	k := webhookID
	if t.key == bySlug {
		k = slug
	}
	if k == "" {
		t.unkeyed.Add(1)
		return
	}
	ns := at.UnixNano()
	s := &t.shards[maphash.String(t.seed, k)%uint64(len(t.shards))]
	s.mu.Lock()
	_, seen := s.at[k]
	if !seen {
		s.at[k] = ns
	}
	s.mu.Unlock()
	if seen {
		t.dups.Add(1)
		return
	}
	t.first.CompareAndSwap(0, ns)
	for {
		cur := t.last.Load()
		if ns <= cur || t.last.CompareAndSwap(cur, ns) {
			break
		}
	}
	t.got.Add(1)
}

// arrival returns when the delivery with key k first arrived.
func (t *tally) arrival(k string) (time.Time, bool) {
	s := &t.shards[maphash.String(t.seed, k)%uint64(len(t.shards))]
	s.mu.Lock()
	ns, ok := s.at[k]
	s.mu.Unlock()
	return time.Unix(0, ns), ok
}

func (t *tally) lastAt() time.Time { return time.Unix(0, t.last.Load()) }

// wait returns true once every expected delivery arrived, false when ctx
// ends or none arrived for stall.
func (t *tally) wait(ctx context.Context, stall time.Duration) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seen, progress := t.got.Load(), time.Now()
	for {
		n := t.got.Load()
		if n >= t.expected {
			return true
		}
		if n != seen {
			seen, progress = n, time.Now()
		} else if time.Since(progress) > stall {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}
