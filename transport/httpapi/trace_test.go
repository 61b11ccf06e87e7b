package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
)

// TestBuildEventShowsEachHookItWentToWithItemsAndSequences follows a build
// event from its 202 to its deliveries and their log sequences.
func TestBuildEventShowsEachHookItWentToWithItemsAndSequences(t *testing.T) {
	s := newStack(t)
	ok, failing := newReceiver(t, http.StatusOK), newReceiver(t, http.StatusInternalServerError)
	h1 := s.api.createHook("app-1", hookBody(map[string]any{"url": ok.URL() + "/a"}))
	h2 := s.api.createHook("app-1", hookBody(map[string]any{"url": failing.URL() + "/b"}))
	acc := s.api.sendBuild("app-1", "build/finished", buildBody(7))
	b := s.api.waitBuildEvent("app-1", acc.EventID, 2)
	if b.EventID != acc.EventID || b.Sequence != acc.Sequence || b.EventType != "build/finished" {
		t.Errorf("build event %+v, want id %s at %d", b, acc.EventID, acc.Sequence)
	}
	checkTime(t, "received_at", b.ReceivedAt)
	if len(b.Deliveries) != 2 || b.Deliveries[0].HookSlug != h1.Slug || b.Deliveries[1].HookSlug != h2.Slug {
		t.Fatalf("deliveries %+v, want %s then %s", b.Deliveries, h1.Slug, h2.Slug)
	}
	for i, d := range b.Deliveries {
		if d.RequestSequence <= b.Sequence || len(d.Items) != 1 {
			t.Fatalf("delivery %d: %+v, want a request after %d and one item", i, d, b.Sequence)
		}
		it := d.Items[0]
		if it.Slug != d.DeliveryID || it.RequestSequence != d.RequestSequence || it.AttemptSequence <= d.RequestSequence {
			t.Errorf("item %+v of delivery %+v: want slug %s, request %d, attempt after it", it, d, d.DeliveryID, d.RequestSequence)
		}
		full := s.api.listItems("app-1", d.HookSlug, "").Data[0]
		if full.BuildEventSequence != b.Sequence || full.RequestSequence != d.RequestSequence || full.AttemptSequence != it.AttemptSequence || full.BuildSlug != "build-7" {
			t.Errorf("delivery item %+v: want sequences %d/%d/%d and build-7", full, b.Sequence, d.RequestSequence, it.AttemptSequence)
		}
	}
	if b.Deliveries[0].Items[0].Status != "succeeded" || b.Deliveries[1].Items[0].Status != "failed" {
		t.Errorf("statuses %s, %s; want succeeded, failed", b.Deliveries[0].Items[0].Status, b.Deliveries[1].Items[0].Status)
	}

	// A redelivery joins the same hook's entry, with its own request.
	first := b.Deliveries[1].Items[0]
	s.api.do(http.MethodPost, itemsPath("app-1", h2.Slug)+"/"+first.Slug+"/redeliver", nil).expect(t, http.StatusOK)
	s.api.waitItems("app-1", h2.Slug, 2)
	b = s.api.buildEvent("app-1", acc.EventID)
	if items := b.Deliveries[1].Items; len(items) != 2 || items[1].RedeliveryOf == nil || *items[1].RedeliveryOf != first.Slug ||
		items[1].RequestSequence <= items[0].AttemptSequence {
		t.Errorf("after a redelivery, items %+v; want the redelivery second, requested after the first attempt", items)
	}

	// An event for an app without hooks matched none: an empty list.
	none := s.api.sendBuild("app-2", "build/finished", buildBody(8))
	if got := s.api.buildEvent("app-2", none.EventID); len(got.Deliveries) != 0 {
		t.Errorf("deliveries of an event no hook wanted: %+v", got.Deliveries)
	}
	s.api.do(http.MethodGet, buildEventsPath("app-1")+"/"+none.EventID, nil).expectError(t, http.StatusNotFound, "build event")

	// Listed newest first.
	list := s.api.listBuildEvents("app-1", "")
	if len(list.Data) != 1 || list.Data[0].EventID != acc.EventID || list.Paging.TotalItemCount != 1 {
		t.Errorf("build events of app-1: %+v", list)
	}
}

func TestBuildEventsArePagedNewestFirst(t *testing.T) {
	s := newStack(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, s.api.sendBuild("app-1", "build/triggered", buildBody(i)).EventID)
	}
	var got []string
	q := "?limit=2"
	for pages := 0; ; pages++ {
		var l buildEventList
		testkit.WaitUntil(t, waitLimit, "build events in the views", func() bool {
			l = s.api.listBuildEvents("app-1", q)
			return l.Paging.TotalItemCount == 5
		})
		for _, e := range l.Data {
			got = append(got, e.EventID)
		}
		if l.Paging.Next == nil {
			break
		}
		q = "?limit=2&next=" + *l.Paging.Next
	}
	for i := range ids {
		if got[i] != ids[len(ids)-1-i] {
			t.Fatalf("build events %v, want %v reversed", got, ids)
		}
	}
}

// TestDeliveryItemFiltersCombineAndPage sends builds to a hook whose
// receiver fails every third one, then checks each filter and their
// combinations, paging one item at a time, against the unfiltered list.
func TestDeliveryItemFiltersCombineAndPage(t *testing.T) {
	s := newStack(t)
	rc := newReceiver(t, http.StatusOK)
	bad := newReceiver(t, http.StatusServiceUnavailable)
	good := s.api.createHook("app-1", hookBody(map[string]any{"url": rc.URL() + "/"}))
	failing := s.api.createHook("app-1", hookBody(map[string]any{"url": bad.URL() + "/"}))
	for i := range 6 {
		// Two build events per build slug: distinct events by their
		// Idempotency-Key (the slug alone would make the second a repeat).
		s.api.withHeader("Idempotency-Key", fmt.Sprint("filters-", i)).sendBuild("app-1", "build/finished", buildBody(i%3))
	}
	all := append(s.api.waitItems("app-1", good.Slug, 6), s.api.waitItems("app-1", failing.Slug, 6)...)
	mid := all[2].CreatedAt // the third newest of the good hook

	for _, tc := range []struct {
		hook  hookOut
		query string
		keep  func(itemOut) bool
	}{
		{good, "status=succeeded", func(itemOut) bool { return true }},
		{good, "status=failed", func(itemOut) bool { return false }},
		{failing, "status=failed", func(itemOut) bool { return true }},
		{good, "build_slug=build-1", func(d itemOut) bool { return d.BuildSlug == "build-1" }},
		{failing, "build_slug=build-2&status=failed", func(d itemOut) bool { return d.BuildSlug == "build-2" }},
		{good, "build_slug=build-2&status=failed", func(itemOut) bool { return false }},
		{good, "since=" + mid, func(d itemOut) bool { return d.CreatedAt >= mid }},
		{good, "until=" + mid, func(d itemOut) bool { return d.CreatedAt <= mid }},
		{good, "since=" + mid + "&until=" + mid + "&build_slug=" + all[2].BuildSlug, func(d itemOut) bool { return d.CreatedAt == mid }},
		{good, "unknown_param=1&status=succeeded", func(itemOut) bool { return true }},
	} {
		t.Run(tc.query, func(t *testing.T) {
			var want []string
			for _, d := range s.api.listItems("app-1", tc.hook.Slug, "").Data {
				if tc.keep(d) && d.Status != "" {
					want = append(want, d.Slug)
				}
			}
			var got []string
			q := "?limit=1&" + tc.query
			for {
				page := s.api.listItems("app-1", tc.hook.Slug, q)
				if page.Paging.TotalItemCount != len(want) {
					t.Errorf("total_item_count %d, want %d", page.Paging.TotalItemCount, len(want))
				}
				for _, d := range page.Data {
					got = append(got, d.Slug)
				}
				if page.Paging.Next == nil {
					break
				}
				q = "?limit=1&" + tc.query + "&next=" + *page.Paging.Next
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("items %v, want %v", got, want)
			}
		})
	}
}

func TestUnknownFilterValuesAreBadRequests(t *testing.T) {
	s := newStack(t)
	h := s.api.createHook("app-1", hookBody(nil))
	for _, tc := range []struct{ query, field string }{
		{"status=foo", "status"},
		{"status=", "status"},
		{"build_slug=", "build_slug"},
		{"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"},
		{"since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "until"},
	} {
		s.api.do(http.MethodGet, itemsPath("app-1", h.Slug)+"?"+tc.query, nil).expectError(t, http.StatusBadRequest, tc.field)
	}
	s.api.do(http.MethodGet, hooksPath("app-1")+"?include_deleted=1", nil).expectError(t, http.StatusBadRequest, "include_deleted")
}

func TestDeletedHooksItemsStayReadableAndIncludeDeletedListsIt(t *testing.T) {
	s := newStack(t)
	rc := newReceiver(t, http.StatusOK)
	keep := s.api.createHook("app-1", hookBody(map[string]any{"url": rc.URL() + "/keep"}))
	gone := s.api.createHook("app-1", hookBody(map[string]any{"url": rc.URL() + "/gone"}))
	acc := s.api.sendBuild("app-1", "build/finished", buildBody(1))
	items := s.api.waitItems("app-1", gone.Slug, 1)
	before := time.Now().UTC()
	s.api.do(http.MethodDelete, hookPath("app-1", gone.Slug), nil).expect(t, http.StatusOK)

	s.api.do(http.MethodGet, hookPath("app-1", gone.Slug), nil).expectError(t, http.StatusNotFound)
	if l := s.api.listItems("app-1", gone.Slug, ""); len(l.Data) != 1 || l.Data[0].Slug != items[0].Slug {
		t.Errorf("items of the deleted hook: %+v", l)
	}
	s.api.do(http.MethodGet, itemsPath("app-1", gone.Slug)+"/"+items[0].Slug, nil).expect(t, http.StatusOK)
	s.api.do(http.MethodGet, itemsPath("app-2", gone.Slug)+"/"+items[0].Slug, nil).expectError(t, http.StatusNotFound)
	s.api.do(http.MethodPost, itemsPath("app-1", gone.Slug)+"/"+items[0].Slug+"/redeliver", nil).expectError(t, http.StatusNotFound)
	if b := s.api.buildEvent("app-1", acc.EventID); len(b.Deliveries) != 2 {
		t.Errorf("the build event lost the deleted hook's delivery: %+v", b.Deliveries)
	}

	if l := s.api.listHooks("app-1", ""); len(l.Data) != 1 || l.Data[0].Slug != keep.Slug || l.Paging.TotalItemCount != 1 {
		t.Errorf("hooks: %+v, want only %s", l, keep.Slug)
	}
	var slugs []string
	q := "?include_deleted=true&limit=1"
	for {
		l := s.api.listHooks("app-1", q)
		if l.Paging.TotalItemCount != 2 {
			t.Errorf("include_deleted total %d, want 2", l.Paging.TotalItemCount)
		}
		for _, h := range l.Data {
			slugs = append(slugs, h.Slug)
			if (h.Slug == gone.Slug) != (h.DeletedAt != nil) {
				t.Errorf("hook %s: deleted_at %v", h.Slug, h.DeletedAt)
			}
			if h.DeletedAt != nil && checkTime(t, "deleted_at", *h.DeletedAt).Before(before.Add(-time.Second)) {
				t.Errorf("deleted_at %s before the delete", *h.DeletedAt)
			}
		}
		if l.Paging.Next == nil {
			break
		}
		q = "?include_deleted=true&limit=1&next=" + *l.Paging.Next
	}
	if fmt.Sprint(slugs) != fmt.Sprint([]string{keep.Slug, gone.Slug}) {
		t.Errorf("include_deleted lists %v, want %s then %s in creation order", slugs, keep.Slug, gone.Slug)
	}
}
