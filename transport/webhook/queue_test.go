package webhook

import (
	"context"
	"testing"
	"time"
)

// put queues a send of hook slug to url; seq names it.
func putSend(t *testing.T, q *queue, seq uint64, slug, url string) {
	t.Helper()
	if !q.put(t.Context(), hostKey(url, slug), ref{reqSeq: seq, hookSlug: slug}) {
		t.Fatalf("put %d refused with room left", seq)
	}
}

func mustTake(t *testing.T, q *queue, want uint64) *ticket {
	t.Helper()
	tk, ok := q.take()
	if !ok || tk.reqSeq != want {
		got := uint64(0)
		if tk != nil {
			got = tk.reqSeq
		}
		t.Fatalf("take = %d, %v; want %d", got, ok, want)
	}
	return tk
}

func TestQueueCapsRunningSendsPerHostAndServesHostsInTurn(t *testing.T) {
	q := newQueue(1, 100)
	putSend(t, q, 1, "hook-a", "https://a.example/one")
	putSend(t, q, 2, "hook-a2", "https://A.example:443/two") // another hook, same host
	putSend(t, q, 3, "hook-a", "https://a.example/one")
	putSend(t, q, 4, "hook-b", "http://b.example/")
	putSend(t, q, 5, "hook-b", "http://b.example/")
	putSend(t, q, 6, "hook-c", "http://a.example/") // same host, other port
	a1 := mustTake(t, q, 1)
	b1 := mustTake(t, q, 4) // a.example:443 is at its limit
	c1 := mustTake(t, q, 6) // a.example:80 is another receiver
	q.done(b1)
	mustTake(t, q, 5) // b is free again; a.example:443 still runs 1
	q.done(a1)
	a2 := mustTake(t, q, 2) // the other hook on a.example:443 waited for 1
	q.done(c1)
	q.done(a2)
	mustTake(t, q, 3)

	q.stop()
	if tk, ok := q.take(); ok {
		t.Fatalf("take after stop = %d, want false", tk.reqSeq)
	}
}

func TestQueueCountsOneAddressOnceHoweverItsHostIsSpelled(t *testing.T) {
	q := newQueue(1, 100)
	// Literal spellings of one address share a limit from the start.
	putSend(t, q, 1, "h1", "http://127.0.0.1:9000/")
	putSend(t, q, 2, "h2", "http://0x7f000001:9000/")
	putSend(t, q, 3, "h3", "http://127.1:9000/")
	putSend(t, q, 4, "h4", "http://[::ffff:127.0.0.1]:9000/")
	first := mustTake(t, q, 1)
	if tk, ok := takeNow(q); ok {
		t.Fatalf("took %d while its address was at its limit", tk.reqSeq)
	}
	q.done(first)
	mustTake(t, q, 2)
}

func TestQueueLearnsTheAddressANameDialsAndCountsItThere(t *testing.T) {
	q := newQueue(1, 100)
	putSend(t, q, 1, "h1", "http://one.example/")
	putSend(t, q, 2, "h2", "http://two.example/")
	putSend(t, q, 3, "h1", "http://one.example/")
	putSend(t, q, 4, "h2", "http://two.example/")
	one := mustTake(t, q, 1)
	q.dialled(one, "192.0.2.1:80")
	two := mustTake(t, q, 2) // not known yet to share that address
	q.dialled(two, "192.0.2.1:80")
	// Both names now count under 192.0.2.1:80, which has two running.
	q.done(one)
	if tk, ok := takeNow(q); ok {
		t.Fatalf("took %d while 192.0.2.1:80 still ran a send", tk.reqSeq)
	}
	q.done(two)
	mustTake(t, q, 3)
	if tk, ok := takeNow(q); ok {
		t.Fatalf("took %d while the shared address ran 3", tk.reqSeq)
	}
}

func TestQueueCountsSendsWithoutAURLUnderTheirHook(t *testing.T) {
	q := newQueue(1, 100)
	putSend(t, q, 1, "hook-x", "https://x.example/")
	// Requests of removed hooks send nothing: they do not wait for a host.
	for i, slug := range []string{"removed-1", "removed-2"} {
		if !q.put(t.Context(), "hook "+slug, ref{reqSeq: uint64(2 + i), hookSlug: slug}) {
			t.Fatal("put refused")
		}
	}
	for _, want := range []uint64{1, 2, 3} {
		mustTake(t, q, want)
	}
}

func TestQueuePutWaitsForRoomUntilContextEnds(t *testing.T) {
	q := newQueue(1, 1)
	putSend(t, q, 1, "a", "https://a.example/")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if q.put(ctx, "b.example:443", ref{reqSeq: 2}) {
		t.Fatal("put into a full queue succeeded")
	}
	mustTake(t, q, 1)
	putSend(t, q, 2, "b", "https://b.example/")
}

func TestHostKeyIsHostAndPortWithSchemeDefaults(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"http://example.com/hook", "example.com:80"},
		{"https://example.com/hook", "example.com:443"},
		{"HTTPS://Example.COM/hook", "example.com:443"},
		{"https://example.com./hook", "example.com:443"},
		{"https://example.com:443/other?x=1", "example.com:443"},
		{"http://example.com:8080/", "example.com:8080"},
		{"http://127.0.0.1:9000/a", "127.0.0.1:9000"},
		{"http://2130706433:9000/a", "127.0.0.1:9000"},
		{"http://0177.0.0.1.:9000/a", "127.0.0.1:9000"},
		{"http://[::ffff:7f00:1]:9000/a", "127.0.0.1:9000"},
		{"http://[::1]/", "[::1]:80"},
		{"https://[2606:4700::1111]:8443/", "[2606:4700::1111]:8443"},
	} {
		if got := hostKey(tt.url, "slug"); got != tt.want {
			t.Errorf("hostKey(%s) = %q, want %q", tt.url, got, tt.want)
		}
	}
	if got := hostKey("::not a url", "odd"); got != "hook odd" {
		t.Errorf("hostKey of a bad URL = %q, want the hook", got)
	}
}

// takeNow takes a send only if one may start at once.
func takeNow(q *queue) (*ticket, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.pick()
	return t, t != nil
}
