package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/transport/httpapi"
)

type redeliverFailedOut struct {
	Message string `json:"message"`
	Data    struct {
		Requested int      `json:"requested"`
		Slugs     []string `json:"slugs"`
	} `json:"data"`
}

func redeliverFailedPath(app, hook string) string { return hookPath(app, hook) + "/redeliver-failed" }

func (c *client) redeliverFailed(app, hook string, since time.Time) redeliverFailedOut {
	c.t.Helper()
	var out redeliverFailedOut
	c.do(http.MethodPost, redeliverFailedPath(app, hook), map[string]any{"since": since.Format(time.RFC3339Nano)}).
		expect(c.t, http.StatusOK).decode(c.t, &out)
	if out.Message == "" || out.Data.Requested != len(out.Data.Slugs) {
		c.t.Fatalf("redeliver-failed answered %+v: want a message, and requested = len(slugs)", out)
	}
	return out
}

// itemBySlug returns the page's items by slug.
func itemBySlug(items []itemOut) map[string]itemOut {
	m := make(map[string]itemOut, len(items))
	for _, it := range items {
		m[it.Slug] = it
	}
	return m
}

func TestRedeliverFailedSendsEachFailedItemSinceOnceAfterAnOutage(t *testing.T) {
	s := newStack(t)
	recv := testkit.NewReceiver(t)
	recv.SetStatus(http.StatusInternalServerError) // down
	h := s.api.createHook("app-1", map[string]any{"url": recv.URL() + "/hook", "events": []string{"all"}})
	other := s.api.createHook("app-1", map[string]any{"url": recv.URL() + "/other", "events": []string{"build/triggered"}})

	// Two failures before "since": they stay as they are.
	s.api.sendBuild("app-1", "build/finished", buildBody(1))
	s.api.sendBuild("app-1", "build/finished", buildBody(2))
	before := s.api.waitItems("app-1", h.Slug, 2)
	time.Sleep(20 * time.Millisecond)
	since := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)

	// The outage goes on: five more fail.
	const outage = 5
	for i := range outage {
		s.api.sendBuild("app-1", "build/finished", buildBody(10+i))
	}
	failed := s.api.waitItems("app-1", h.Slug, 2+outage)[:outage]
	for _, it := range failed {
		if it.ResponseHTTPStatus == nil || *it.ResponseHTTPStatus != http.StatusInternalServerError {
			t.Fatalf("item %s during the outage: status %v, want 500", it.Slug, it.ResponseHTTPStatus)
		}
		if ts := checkTime(t, "created_at", it.CreatedAt); ts.Before(since) {
			t.Fatalf("item %s created %s, before since %s", it.Slug, ts, since)
		}
	}

	// The receiver is back; one bulk request sends each failure again.
	recv.SetStatus(http.StatusOK)
	out := s.api.redeliverFailed("app-1", h.Slug, since)
	if out.Data.Requested != outage {
		t.Fatalf("requested %d, want %d: %s", out.Data.Requested, outage, out.Message)
	}
	for _, slug := range out.Data.Slugs {
		if !uuidPattern.MatchString(slug) {
			t.Fatalf("new item slug %q is not a UUID", slug)
		}
	}

	// Calling again at once asks for nothing: the first call's requests
	// are marked on the originals even before they are attempted.
	if again := s.api.redeliverFailed("app-1", h.Slug, since); again.Data.Requested != 0 || len(again.Data.Slugs) != 0 {
		t.Fatalf("second call requested %d (%v), want 0", again.Data.Requested, again.Data.Slugs)
	}

	all := s.api.waitItems("app-1", h.Slug, 2+2*outage)
	byslug := itemBySlug(all)
	origOf := map[string]string{}
	for _, slug := range out.Data.Slugs {
		re, ok := byslug[slug]
		if !ok {
			t.Fatalf("no delivery item %s", slug)
		}
		if re.ResponseHTTPStatus == nil || *re.ResponseHTTPStatus != http.StatusOK {
			t.Errorf("redelivery %s: status %v, want 200", slug, re.ResponseHTTPStatus)
		}
		if re.RedeliveryOf == nil {
			t.Fatalf("redelivery %s has no redelivery_of", slug)
		}
		origOf[slug] = *re.RedeliveryOf
	}
	var originals []string
	for _, it := range failed {
		originals = append(originals, it.Slug)
	}
	var linked []string
	for _, o := range origOf {
		linked = append(linked, o)
	}
	slices.Sort(originals)
	slices.Sort(linked)
	if !slices.Equal(originals, linked) {
		t.Fatalf("redeliveries are of %v, want each failed item since then once: %v", linked, originals)
	}
	raw := s.api.rawItems("app-1", h.Slug)
	for _, r := range raw {
		var slug string
		decodeRawField(t, r["slug"], &slug)
		var by []string
		decodeRawField(t, r["redelivered_by"], &by)
		want := []string{}
		for re, o := range origOf {
			if o == slug {
				want = append(want, re)
			}
		}
		if !slices.Equal(by, want) {
			t.Errorf("item %s: redelivered_by %q, want %q", slug, by, want)
		}
	}
	for _, it := range before {
		if got := byslug[it.Slug]; got.ResponseHTTPStatus == nil || *got.ResponseHTTPStatus != http.StatusInternalServerError {
			t.Errorf("item %s from before since changed: %+v", it.Slug, got)
		}
	}

	// The receiver got 7 failures, then the 5 again with the same bodies and
	// Webhook-Ids, and nothing of the 2 from before since.
	testkit.WaitUntil(t, waitLimit, "five successful redeliveries", func() bool {
		ok := 0
		for _, r := range recv.Requests() {
			if r.Status == http.StatusOK {
				ok++
			}
		}
		return ok >= outage
	})
	recv.StaysAt(t, 2+2*outage, 100*time.Millisecond)
	reqs := recv.Requests()
	if len(reqs) != 2+2*outage {
		t.Fatalf("receiver got %d requests, want %d", len(reqs), 2+2*outage)
	}
	firstTry := map[string]string{}
	for _, r := range reqs[:2+outage] {
		firstTry[r.Header.Get("Webhook-Id")] = string(r.Body)
	}
	for _, r := range reqs[:2] {
		for _, again := range reqs[2+outage:] {
			if again.Header.Get("Webhook-Id") == r.Header.Get("Webhook-Id") {
				t.Errorf("a delivery from before since (Webhook-Id %s) was sent again", r.Header.Get("Webhook-Id"))
			}
		}
	}
	for _, r := range reqs[2+outage:] {
		if body, ok := firstTry[r.Header.Get("Webhook-Id")]; !ok || body != string(r.Body) {
			t.Errorf("redelivery with Webhook-Id %s and body %s matches no failed delivery", r.Header.Get("Webhook-Id"), r.Body)
		}
	}

	// Once they succeeded, nothing is left to send; the other hook had nothing.
	if again := s.api.redeliverFailed("app-1", h.Slug, since.Add(-time.Hour)); again.Data.Requested != 2 {
		// With an earlier since, only the two from before are left.
		t.Fatalf("since an hour earlier: requested %d, want the 2 older failures", again.Data.Requested)
	}
	if again := s.api.redeliverFailed("app-1", other.Slug, since.Add(-time.Hour)); again.Data.Requested != 0 {
		t.Fatalf("hook without items: requested %d", again.Data.Requested)
	}
}

func TestRedeliverFailedRefusesBadInput(t *testing.T) {
	s := newStack(t)
	recv := newReceiver(t, http.StatusOK)
	h := s.api.createHook("app-1", map[string]any{"url": recv.URL() + "/hook", "events": []string{"all"}})
	path := redeliverFailedPath("app-1", h.Slug)

	for _, body := range []any{
		map[string]any{"since": "yesterday"},
		map[string]any{"since": "2026-03-01 10:00:00"},
		map[string]any{"since": 1700000000},
		map[string]any{},
		"not json",
	} {
		s.api.do(http.MethodPost, path, body).expectError(t, http.StatusBadRequest)
	}
	s.api.do(http.MethodPost, path, map[string]any{"since": "yesterday"}).expectError(t, http.StatusBadRequest, "since", "RFC 3339")
	s.api.do(http.MethodPost, path, map[string]any{}).expectError(t, http.StatusBadRequest, "since")

	good := map[string]any{"since": "2026-03-01T10:00:00+02:00"}
	s.api.do(http.MethodPost, redeliverFailedPath("app-1", "no-such-hook"), good).expectError(t, http.StatusNotFound, "webhook not found")
	s.api.do(http.MethodPost, redeliverFailedPath("app-2", h.Slug), good).expectError(t, http.StatusNotFound, "webhook not found")
	s.api.do(http.MethodGet, path, nil).expectError(t, http.StatusMethodNotAllowed)
	s.api.do(http.MethodPost, path, good).expect(t, http.StatusOK)

	locked := s.serve(func(c *httpapi.Config) { c.APIToken = "tok" })
	locked.do(http.MethodPost, path, good).expectError(t, http.StatusUnauthorized)
	locked.withHeader("Authorization", "Bearer tok").do(http.MethodPost, path, good).expect(t, http.StatusOK)
}

func TestRedeliverFailedCalledConcurrentlyRequestsEachItemOnce(t *testing.T) {
	s := newStack(t)
	recv := testkit.NewReceiver(t)
	recv.SetStatus(http.StatusInternalServerError) // down
	h := s.api.createHook("app-1", map[string]any{"url": recv.URL() + "/hook", "events": []string{"all"}})
	since := time.Now().UTC().Add(-time.Second)
	const n = 4
	for i := range n {
		s.api.sendBuild("app-1", "build/triggered", buildBody(i))
	}
	s.api.waitItems("app-1", h.Slug, n)

	// Redeliveries are held at the receiver, so none is recorded while
	// the calls run: only the marks keep them from being asked twice.
	// Half the calls go through a second router over the same log, as a
	// second process would: nothing in memory is shared between the two,
	// only the log and its conditional append keep them apart.
	release := recv.Hold()
	other := s.serve()
	var total atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		api := s.api
		if i%2 == 1 {
			api = other
		}
		wg.Go(func() {
			var out redeliverFailedOut
			api.do(http.MethodPost, redeliverFailedPath("app-1", h.Slug), map[string]any{"since": since.Format(time.RFC3339Nano)}).
				expect(t, http.StatusOK).decode(t, &out)
			total.Add(int64(out.Data.Requested))
		})
	}
	wg.Wait()
	if got := total.Load(); got != n {
		t.Fatalf("eight concurrent calls through two routers requested %d redeliveries in all, want %d", got, n)
	}
	release()

	// The redeliveries fail too (the receiver is still down): each is then
	// the newest failure of its build event, and is asked for once more.
	s.api.waitItems("app-1", h.Slug, 2*n)
	if out := s.api.redeliverFailed("app-1", h.Slug, since); out.Data.Requested != n {
		t.Fatalf("after the redeliveries failed again: requested %d, want %d", out.Data.Requested, n)
	}
}

func decodeRawField(t *testing.T, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}
