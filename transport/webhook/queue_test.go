package webhook

import (
	"context"
	"testing"
	"time"
)

func TestQueueCapsRunningSendsPerHookAndServesHooksInTurn(t *testing.T) {
	q := newQueue(1, 100)
	ctx := t.Context()
	for _, id := range []string{"a1", "a2", "a3", "b1", "b2", "c1"} {
		if !q.put(ctx, job{deliveryID: id, hookSlug: id[:1]}) {
			t.Fatal("put refused with room left")
		}
	}
	take := func(want string) job {
		t.Helper()
		j, ok := q.take()
		if !ok || j.deliveryID != want {
			t.Fatalf("take = %q, %v; want %q", j.deliveryID, ok, want)
		}
		return j
	}
	a1 := take("a1")
	b1 := take("b1") // a is at its limit
	c1 := take("c1")
	q.done(b1)
	take("b2") // b is free again; a still runs a1
	q.done(a1)
	a2 := take("a2")
	q.done(c1)
	q.done(a2)
	take("a3")

	q.stop()
	if j, ok := q.take(); ok {
		t.Fatalf("take after stop = %q, want false", j.deliveryID)
	}
}

func TestQueuePutWaitsForRoomUntilContextEnds(t *testing.T) {
	q := newQueue(1, 1)
	if !q.put(t.Context(), job{hookSlug: "a"}) {
		t.Fatal("first put refused")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if q.put(ctx, job{hookSlug: "b"}) {
		t.Fatal("put into a full queue succeeded")
	}
	if _, ok := q.take(); !ok {
		t.Fatal("take found nothing")
	}
	if !q.put(t.Context(), job{hookSlug: "b"}) {
		t.Fatal("put refused after take made room")
	}
}
