package projections_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/projections"
)

// TestTestDeliveryIsAnItemMarkedTestWithItsRequestAndNoBuildEvent: a test
// request and its attempt give one item with Test, the test's build slug
// and its request's sequence, listed and filtered like any item, linked to
// no build event; a rebuild gives the same views byte for byte.
func TestTestDeliveryIsAnItemMarkedTestWithItsRequestAndNoBuildEvent(t *testing.T) {
	store := openStore(t)
	pub := eventlog.NewPublisher(store)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	hook := domain.HookConfigured{HookSlug: "h1", AppSlug: "app-1", URL: "https://receiver.example/h1",
		Events: []string{domain.SelectAll}, Headers: map[string]string{}, ConfiguredAt: at}
	build := domain.BuildEventReceived{EventID: "e1", AppSlug: "app-1", EventType: domain.EventBuildFinished, ReceivedAt: at,
		Build: domain.BuildPayload{BuildSlug: "b1", BuildNumber: 1, AppSlug: "app-1", BuildStatus: 1}}
	test, err := domain.NewTestDelivery("app-1", "h1", domain.EventBuildTriggered, "t1", at)
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, pub, hook, build, domain.DeliveryRequested{DeliveryID: "d1", HookSlug: "h1", AppSlug: "app-1",
		BuildEventID: "e1", BuildEventSeq: 2, RequestedAt: at})
	testSeq := appendEvents(t, pub, test)
	appendEvents(t, pub,
		domain.DeliveryAttempted{DeliveryID: "d1", HookSlug: "h1", AppSlug: "app-1", BuildEventID: "e1", EventType: domain.EventBuildFinished,
			Request:  domain.OutgoingRequest{URL: hook.URL, Headers: map[string]string{}, Body: build.Build.Body()},
			Response: &domain.Response{Status: 200}, AttemptedAt: at.Add(time.Second)},
		domain.DeliveryAttempted{DeliveryID: "t1", HookSlug: "h1", AppSlug: "app-1", EventType: domain.EventBuildTriggered, Test: true,
			Request: domain.OutgoingRequest{URL: hook.URL, Headers: map[string]string{}, Body: test.Payload},
			Error:   "connection refused", AttemptedAt: at.Add(2 * time.Second)},
	)

	dir := t.TempDir()
	live := openViews(t, filepath.Join(dir, "live"))
	defer func() { _ = live.Close() }()
	apply(t, live, readLog(t, store))

	it, err := live.DeliveryItem("h1", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if !it.Test || it.BuildSlug != "hookd-test-t1" || it.RequestSeq != testSeq || it.BuildEventSeq != 0 || it.BuildEventID != "" ||
		it.EventType != domain.EventBuildTriggered || string(it.RequestPayload) != string(test.Payload) || it.Status() != projections.StatusFailed {
		t.Errorf("test item %+v", it)
	}
	if first, err := live.DeliveryItem("h1", "d1"); err != nil || first.Test {
		t.Errorf("build item %+v (%v), want Test false", first, err)
	}
	for _, f := range []projections.ItemFilter{{BuildSlug: "hookd-test-t1"}, {Status: projections.StatusFailed}} {
		page, err := live.ListDeliveryItemsFiltered("h1", f, "", 10)
		if err != nil || page.Total != 1 || len(page.Items) != 1 || page.Items[0].Slug != "t1" {
			t.Errorf("filter %+v: %+v (%v), want the test item only", f, page, err)
		}
	}
	ev, err := live.BuildEvent("app-1", "e1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Deliveries) != 1 || len(ev.Deliveries[0].Items) != 1 || ev.Deliveries[0].Items[0].Slug != "d1" {
		t.Errorf("build event e1's deliveries %+v, want d1's only", ev.Deliveries)
	}

	rebuilt := openViews(t, filepath.Join(dir, "rebuilt"))
	defer func() { _ = rebuilt.Close() }()
	if err := projections.Rebuild(testContext(t), store, rebuilt, nil); err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	assertSameViews(t, "rebuilt with a test delivery", dump(t, live), dump(t, rebuilt))
}
