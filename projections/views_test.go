package projections_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/projections"
)

// liveViews is a log with a runner keeping views up to date.
type liveViews struct {
	t     *testing.T
	store *badgerlog.Store
	pub   *eventlog.Publisher
	views *projections.Views
	run   *runner
}

func newLiveViews(t *testing.T) *liveViews {
	store := openStore(t)
	views := newViews(t)
	return &liveViews{t: t, store: store, pub: eventlog.NewPublisher(store), views: views, run: startRunner(t, store, views)}
}

// apply appends evs and waits until the views reflect them.
func (l *liveViews) apply(evs ...domain.Event) uint64 {
	l.t.Helper()
	seq := appendEvents(l.t, l.pub, evs...)
	l.run.waitApplied(l.t, seq)
	return seq
}

var t0 = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

func configured(app, slug string, minute int) domain.HookConfigured {
	return domain.HookConfigured{
		HookSlug: slug, AppSlug: app, URL: "https://receiver.example/" + slug,
		Events: []string{domain.SelectAll}, Headers: map[string]string{}, ConfiguredAt: at(minute),
	}
}

func removed(app, slug string, minute int) domain.HookRemoved {
	return domain.HookRemoved{HookSlug: slug, AppSlug: app, RemovedAt: at(minute)}
}

func attempted(app, hook, id string, status int, when time.Time) domain.DeliveryAttempted {
	body := []byte(fmt.Sprintf(`{"build_slug":%q,"app_slug":%q}`, id, app))
	return domain.DeliveryAttempted{
		DeliveryID: id, HookSlug: hook, AppSlug: app, BuildEventID: "event-" + id, EventType: domain.EventBuildFinished,
		Request: domain.OutgoingRequest{
			URL: "https://receiver.example/" + hook, Headers: map[string]string{"Content-Type": "application/json"}, Body: body,
		},
		Response:    &domain.Response{Status: status, Headers: map[string][]string{"X-Seen": {id}}, Body: "ok " + id},
		DurationMS:  42,
		AttemptedAt: when,
	}
}

func hookSlugs(items []projections.HookView) []string {
	var out []string
	for _, h := range items {
		out = append(out, h.Slug)
	}
	return out
}

func listHooks(t *testing.T, v *projections.Views, app string) projections.Page[projections.HookView] {
	t.Helper()
	page, err := v.ListHooks(app, "", 50)
	if err != nil {
		t.Fatalf("ListHooks(%s): %v", app, err)
	}
	return page
}

func assertHookList(t *testing.T, v *projections.Views, app string, want ...string) {
	t.Helper()
	page := listHooks(t, v, app)
	if got := hookSlugs(page.Items); !slices.Equal(got, want) {
		t.Errorf("hooks of %s: %q, want %q", app, got, want)
	}
	if page.Total != uint64(len(want)) {
		t.Errorf("hooks of %s: total %d, want %d", app, page.Total, len(want))
	}
	if page.Next != "" {
		t.Errorf("hooks of %s: next %q on the only page", app, page.Next)
	}
}

func TestHooksAreListedPerAppInCreationOrderWithTotal(t *testing.T) {
	l := newLiveViews(t)
	assertHookList(t, l.views, "app-1")

	l.apply(configured("app-1", "h-zulu", 1))
	assertHookList(t, l.views, "app-1", "h-zulu")
	l.apply(configured("app-2", "h-other", 2))
	l.apply(configured("app-1", "h-alpha", 3))
	l.apply(configured("app-1", "h-mike", 4))
	assertHookList(t, l.views, "app-1", "h-zulu", "h-alpha", "h-mike")
	assertHookList(t, l.views, "app-2", "h-other")

	l.apply(removed("app-1", "h-alpha", 5))
	assertHookList(t, l.views, "app-1", "h-zulu", "h-mike")
	assertHookList(t, l.views, "app-2", "h-other")

	// Removing an unknown hook, or one already removed, changes nothing.
	l.apply(removed("app-1", "h-never", 6), removed("app-1", "h-alpha", 6))
	assertHookList(t, l.views, "app-1", "h-zulu", "h-mike")

	l.apply(removed("app-1", "h-zulu", 7), removed("app-1", "h-mike", 7))
	assertHookList(t, l.views, "app-1")

	l.apply(configured("app-1", "h-new", 8))
	assertHookList(t, l.views, "app-1", "h-new")
}

func TestHooksArePagedInCreationOrder(t *testing.T) {
	l := newLiveViews(t)
	var want, got []string
	var configs []domain.Event
	for i := range 7 {
		slug := fmt.Sprintf("hook-%c", 'g'-i) // names sort against creation order
		want = append(want, slug)
		configs = append(configs, configured("app-1", slug, i))
	}
	l.apply(configs...)
	anchor := ""
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("paging does not end")
		}
		page, err := l.views.ListHooks("app-1", anchor, 3)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 7 {
			t.Errorf("total %d, want 7", page.Total)
		}
		got = append(got, hookSlugs(page.Items)...)
		if page.Next == "" {
			break
		}
		anchor = page.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged hooks %q, want %q", got, want)
	}
}

func TestReconfiguringAHookKeepsCreatedAtAndPosition(t *testing.T) {
	l := newLiveViews(t)
	secret := "v1:sealed-s1"
	first := configured("app-1", "h-1", 1)
	first.SealedSecret = &secret
	l.apply(first, configured("app-1", "h-2", 2), configured("app-1", "h-3", 3))

	re := domain.HookConfigured{
		HookSlug: "h-1", AppSlug: "app-1", URL: "https://elsewhere.example/new",
		Events: []string{domain.EventBuildFinished}, Headers: map[string]string{"X-Team": "core"}, ConfiguredAt: at(10),
	}
	l.apply(re)
	assertHookList(t, l.views, "app-1", "h-1", "h-2", "h-3")
	h, err := l.views.Hook("app-1", "h-1")
	if err != nil {
		t.Fatal(err)
	}
	if !h.CreatedAt.Equal(at(1)) || !h.UpdatedAt.Equal(at(10)) {
		t.Errorf("created %v updated %v, want created %v updated %v", h.CreatedAt, h.UpdatedAt, at(1), at(10))
	}
	if h.URL != re.URL || !slices.Equal(h.Events, re.Events) || h.Headers["X-Team"] != "core" || len(h.Headers) != 1 {
		t.Errorf("reconfigured hook %+v does not hold the new configuration %+v", h, re)
	}
	if !h.HasSecret {
		t.Error("a reconfiguration without a secret must keep the secret")
	}

	cleared := ""
	re.SealedSecret, re.ConfiguredAt = &cleared, at(11)
	l.apply(re)
	if h, _ := l.views.Hook("app-1", "h-1"); h.HasSecret {
		t.Error("a reconfiguration with an empty secret must clear it")
	}
	newSecret := "v1:sealed-s2"
	re.SealedSecret, re.ConfiguredAt = &newSecret, at(12)
	l.apply(re)
	if h, _ := l.views.Hook("app-1", "h-1"); !h.HasSecret || !h.CreatedAt.Equal(at(1)) {
		t.Errorf("after setting a new secret: has secret %v, created %v", h.HasSecret, h.CreatedAt)
	}
	assertHookList(t, l.views, "app-1", "h-1", "h-2", "h-3")
}

func TestHookLookupIsScopedToItsApp(t *testing.T) {
	l := newLiveViews(t)
	l.apply(configured("app-1", "h-1", 1), configured("app-1", "h-gone", 2), removed("app-1", "h-gone", 3))
	if h, err := l.views.Hook("app-1", "h-1"); err != nil || h.Slug != "h-1" || h.AppSlug != "app-1" {
		t.Fatalf("Hook(app-1, h-1) = %+v, %v", h, err)
	}
	for _, c := range []struct{ app, hook string }{
		{"app-2", "h-1"}, {"app-1", "h-unknown"}, {"app-1", "h-gone"},
	} {
		if _, err := l.views.Hook(c.app, c.hook); !errors.Is(err, domain.ErrHookNotFound) {
			t.Errorf("Hook(%s, %s) error %v, want ErrHookNotFound", c.app, c.hook, err)
		}
	}
}

func TestDeliveryItemsAreListedNewestFirst(t *testing.T) {
	l := newLiveViews(t)
	l.apply(configured("app-1", "h-1", 0), configured("app-1", "h-2", 0))
	// Log order, not attempt time, orders the list.
	l.apply(attempted("app-1", "h-1", "d-1", 200, at(5)))
	l.apply(attempted("app-1", "h-2", "d-other", 200, at(6)))
	l.apply(attempted("app-1", "h-1", "d-2", 500, at(4)), attempted("app-1", "h-1", "d-3", 201, at(7)))
	page, err := l.views.ListDeliveryItems("h-1", "", 50)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range page.Items {
		got = append(got, d.Slug)
	}
	if want := []string{"d-3", "d-2", "d-1"}; !slices.Equal(got, want) || page.Total != 3 || page.Next != "" {
		t.Errorf("items %q total %d next %q, want %q total 3 and no next", got, page.Total, page.Next, want)
	}

	d, err := l.views.DeliveryItem("h-1", "d-2")
	if err != nil {
		t.Fatal(err)
	}
	want := attempted("app-1", "h-1", "d-2", 500, at(4))
	if d.HookSlug != "h-1" || d.AppSlug != "app-1" || d.BuildEventID != want.BuildEventID || d.EventType != want.EventType ||
		!d.CreatedAt.Equal(want.AttemptedAt) || d.RequestURL != want.Request.URL || string(d.RequestPayload) != string(want.Request.Body) ||
		d.RequestHeaders["Content-Type"] != "application/json" || d.ResponseStatus == nil || *d.ResponseStatus != 500 ||
		d.ResponseBody == nil || *d.ResponseBody != "ok d-2" || d.ResponseHeaders["X-Seen"][0] != "d-2" || d.DurationMS != 42 || d.Error != "" {
		t.Errorf("delivery item %+v does not match the attempt %+v", d, want)
	}
}

func TestDeliveryItemOfFailedAttemptHasErrorAndNoResponse(t *testing.T) {
	l := newLiveViews(t)
	a := attempted("app-1", "h-1", "d-1", 0, at(1))
	a.Response, a.Error, a.RedeliveryOf = nil, "connection refused", "d-0"
	l.apply(configured("app-1", "h-1", 0), a)
	d, err := l.views.DeliveryItem("h-1", "d-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.ResponseStatus != nil || d.ResponseBody != nil || d.ResponseHeaders != nil || d.Error != "connection refused" || d.RedeliveryOf != "d-0" {
		t.Errorf("item %+v: want no response, error %q and redelivery of d-0", d, a.Error)
	}
}

func TestDeliveryItemsPageThroughEveryItemOnceInOrder(t *testing.T) {
	l := newLiveViews(t)
	const n = 1000
	evs := []domain.Event{configured("app-1", "h-1", 0)}
	for i := range n {
		evs = append(evs, attempted("app-1", "h-1", fmt.Sprintf("d-%04d", i), 200, at(i)))
		if i%7 == 0 {
			evs = append(evs, attempted("app-1", "h-noise", fmt.Sprintf("noise-%04d", i), 200, at(i)))
		}
	}
	l.apply(evs...)

	var got []string
	anchor := ""
	pages := 0
	for {
		page, err := l.views.ListDeliveryItems("h-1", anchor, 50)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		if page.Total != n {
			t.Fatalf("page %d: total %d, want %d", pages, page.Total, n)
		}
		if len(page.Items) > 50 || (page.Next != "" && len(page.Items) != 50) {
			t.Fatalf("page %d: %d items with next %q", pages, len(page.Items), page.Next)
		}
		for _, d := range page.Items {
			got = append(got, d.Slug)
		}
		if page.Next == "" {
			break
		}
		if pages > n/50 {
			t.Fatalf("page %d still has a next anchor", pages)
		}
		anchor = page.Next
	}
	if pages != n/50 {
		t.Errorf("%d pages, want %d", pages, n/50)
	}
	if len(got) != n {
		t.Fatalf("paged through %d items, want %d", len(got), n)
	}
	for i, slug := range got {
		if want := fmt.Sprintf("d-%04d", n-1-i); slug != want {
			t.Fatalf("item #%d is %s, want %s (every item once, newest first)", i, slug, want)
		}
	}
}

func TestBadAnchorIsInvalidInput(t *testing.T) {
	l := newLiveViews(t)
	l.apply(configured("app-1", "h-1", 0), attempted("app-1", "h-1", "d-1", 200, at(1)))
	for _, anchor := range []string{"!!!", "AAAA", "AAAAAAAAAAAAAAAAAAAA", "a b"} {
		if _, err := l.views.ListDeliveryItems("h-1", anchor, 10); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("ListDeliveryItems with anchor %q: error %v, want one wrapping ErrInvalid", anchor, err)
		}
		if _, err := l.views.ListHooks("app-1", anchor, 10); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("ListHooks with anchor %q: error %v, want one wrapping ErrInvalid", anchor, err)
		}
	}
}

func TestUnknownDeliveryItemIsNotFound(t *testing.T) {
	l := newLiveViews(t)
	l.apply(configured("app-1", "h-1", 0), configured("app-1", "h-2", 0), attempted("app-1", "h-1", "d-1", 200, at(1)))
	for _, c := range []struct{ hook, item string }{
		{"h-1", "d-unknown"}, {"h-2", "d-1"}, {"h-unknown", "d-1"},
	} {
		if _, err := l.views.DeliveryItem(c.hook, c.item); !errors.Is(err, domain.ErrDeliveryNotFound) {
			t.Errorf("DeliveryItem(%s, %s) error %v, want ErrDeliveryNotFound", c.hook, c.item, err)
		}
	}
}

func TestRepeatedAttemptOfADeliveryKeepsTheFirst(t *testing.T) {
	l := newLiveViews(t)
	l.apply(configured("app-1", "h-1", 0), attempted("app-1", "h-1", "d-1", 200, at(1)))
	again := attempted("app-1", "h-1", "d-1", 503, at(2))
	again.Response.Body = "second"
	l.apply(again)
	// Also within one batch, where the first write is not yet committed.
	l.apply(attempted("app-1", "h-1", "d-2", 201, at(3)), attempted("app-1", "h-1", "d-2", 502, at(4)))

	page, err := l.views.ListDeliveryItems("h-1", "", 50)
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 2 || len(page.Items) != 2 {
		t.Fatalf("total %d with %d items, want 2 and 2", page.Total, len(page.Items))
	}
	for id, status := range map[string]int{"d-1": 200, "d-2": 201} {
		d, err := l.views.DeliveryItem("h-1", id)
		if err != nil {
			t.Fatal(err)
		}
		if d.ResponseStatus == nil || *d.ResponseStatus != status || *d.ResponseBody != "ok "+id {
			t.Errorf("item %s kept status %v body %v, want the first attempt's %d", id, d.ResponseStatus, d.ResponseBody, status)
		}
	}
}
