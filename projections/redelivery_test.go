package projections_test

import (
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

func TestRedeliveryRequestedIsMarkedOnTheOriginalItem(t *testing.T) {
	store := openStore(t)
	pub := eventlog.NewPublisher(store)
	views := newViews(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	attempt := func(id, redeliveryOf string) domain.DeliveryAttempted {
		return domain.DeliveryAttempted{
			DeliveryID: id, HookSlug: "hook-1", AppSlug: "app-1", BuildEventID: "event-1", EventType: "build/finished",
			RedeliveryOf: redeliveryOf, Request: domain.OutgoingRequest{URL: "http://r.example/", Body: []byte(`{"n":1}`)},
			Error: "connection refused", AttemptedAt: at,
		}
	}
	request := func(id, of, hook string) domain.RedeliveryRequested {
		return domain.RedeliveryRequested{
			DeliveryID: id, OriginalDeliveryID: of, HookSlug: hook, AppSlug: "app-1", BuildEventID: "event-1",
			EventType: "build/finished", Payload: []byte(`{"n":1}`), RequestedAt: at,
		}
	}
	appendEvents(t, pub,
		attempt("orig", ""),
		request("re-1", "orig", "hook-1"),
		request("re-2", "orig", "hook-1"),
		request("re-x", "no-such-item", "hook-1"), // ignored
		request("re-y", "orig", "other-hook"),     // another hook's item of that slug: none
		attempt("re-1", "orig"),
	)
	entries := readLog(t, store)
	apply(t, views, entries)

	orig, err := views.DeliveryItem("hook-1", "orig")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"re-1", "re-2"}; !slices.Equal(orig.RedeliveredBy, want) {
		t.Fatalf("original item redelivered_by = %q, want %q", orig.RedeliveredBy, want)
	}
	re, err := views.DeliveryItem("hook-1", "re-1")
	if err != nil {
		t.Fatal(err)
	}
	if re.RedeliveryOf != "orig" || len(re.RedeliveredBy) != 0 {
		t.Fatalf("redelivery item: redelivery_of %q, redelivered_by %q", re.RedeliveryOf, re.RedeliveredBy)
	}
	page, err := views.ListDeliveryItems("hook-1", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 || len(page.Items) != 2 {
		t.Fatalf("hook-1 lists %d items (total %d), want 2: requests add no items", len(page.Items), page.Total)
	}

	// One apply per entry gives the same views as one batch.
	want := dump(t, views)
	oneByOne := newViews(t)
	for i := range entries {
		apply(t, oneByOne, entries[i:i+1])
	}
	assertSameViews(t, "applied one entry at a time", want, dump(t, oneByOne))
}
