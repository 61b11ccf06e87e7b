package webhook

import (
	"context"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
)

// sendTo is a job of hook slug whose URL is url; the id names the job.
func sendTo(id, slug, url string) job {
	return job{deliveryID: id, hookSlug: slug, hookFound: true, hook: domain.Hook{Slug: slug, URL: url}}
}

func TestQueueCapsRunningSendsPerHostAndServesHostsInTurn(t *testing.T) {
	q := newQueue(1, 100)
	ctx := t.Context()
	for _, j := range []job{
		sendTo("a1", "hook-a", "https://a.example/one"),
		sendTo("a2", "hook-a2", "https://A.example:443/two"), // another hook, same host
		sendTo("a3", "hook-a", "https://a.example/one"),
		sendTo("b1", "hook-b", "http://b.example/"),
		sendTo("b2", "hook-b", "http://b.example/"),
		sendTo("c1", "hook-c", "http://a.example/"), // same host, other port
	} {
		if !q.put(ctx, j) {
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
	b1 := take("b1") // a.example:443 is at its limit
	c1 := take("c1") // a.example:80 is another destination
	q.done(b1)
	take("b2") // b is free again; a.example:443 still runs a1
	q.done(a1)
	a2 := take("a2") // the other hook on a.example:443 waited for a1
	q.done(c1)
	q.done(a2)
	take("a3")

	q.stop()
	if j, ok := q.take(); ok {
		t.Fatalf("take after stop = %q, want false", j.deliveryID)
	}
}

func TestQueueCountsSendsWithoutAURLUnderTheirHook(t *testing.T) {
	q := newQueue(1, 100)
	ctx := t.Context()
	// Redeliveries to removed hooks send nothing: they do not wait for a host.
	for _, j := range []job{
		sendTo("x1", "hook-x", "https://x.example/"),
		{deliveryID: "r1", hookSlug: "removed-1"},
		{deliveryID: "r2", hookSlug: "removed-2"},
	} {
		q.put(ctx, j)
	}
	for _, want := range []string{"x1", "r1", "r2"} {
		if j, ok := q.take(); !ok || j.deliveryID != want {
			t.Fatalf("take = %q, %v; want %q", j.deliveryID, ok, want)
		}
	}
}

func TestQueuePutWaitsForRoomUntilContextEnds(t *testing.T) {
	q := newQueue(1, 1)
	if !q.put(t.Context(), sendTo("a", "a", "https://a.example/")) {
		t.Fatal("first put refused")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if q.put(ctx, sendTo("b", "b", "https://b.example/")) {
		t.Fatal("put into a full queue succeeded")
	}
	if _, ok := q.take(); !ok {
		t.Fatal("take found nothing")
	}
	if !q.put(t.Context(), sendTo("b", "b", "https://b.example/")) {
		t.Fatal("put refused after take made room")
	}
}

func TestDestinationIsHostAndPortWithSchemeDefaults(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"http://example.com/hook", "example.com:80"},
		{"https://example.com/hook", "example.com:443"},
		{"HTTPS://Example.COM/hook", "example.com:443"},
		{"https://example.com./hook", "example.com:443"},
		{"https://example.com:443/other?x=1", "example.com:443"},
		{"http://example.com:8080/", "example.com:8080"},
		{"https://example.com:8080/", "example.com:8080"},
		{"http://127.0.0.1:9000/a", "127.0.0.1:9000"},
		{"http://[::1]/", "[::1]:80"},
		{"https://[2606:4700::1111]:8443/", "[2606:4700::1111]:8443"},
	} {
		if got := destination(sendTo("id", "slug", tt.url)); got != tt.want {
			t.Errorf("destination(%s) = %q, want %q", tt.url, got, tt.want)
		}
	}
	// Without a usable URL, the hook is the unit.
	for _, j := range []job{
		{hookSlug: "gone"},
		sendTo("id", "odd", "ftp://example.com/"),
		sendTo("id", "odd", "::not a url"),
	} {
		if got, want := destination(j), "hook "+j.hookSlug; got != want {
			t.Errorf("destination(%+v) = %q, want %q", j.hook, got, want)
		}
	}
}
