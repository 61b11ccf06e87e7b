package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

// testRequested is the 202 of POST .../test.
type testRequested struct {
	Message string `json:"message"`
	Data    struct {
		Slug            string `json:"slug"`
		EventType       string `json:"event_type"`
		BuildSlug       string `json:"build_slug"`
		RequestSequence uint64 `json:"request_sequence"`
	} `json:"data"`
}

func (c *client) sendTest(app, hook string, body any) testRequested {
	c.t.Helper()
	var out testRequested
	c.do(http.MethodPost, hookPath(app, hook)+"/test", body).expect(c.t, http.StatusAccepted).decode(c.t, &out)
	return out
}

func TestTestDeliverySendsOneSignedTestPayloadToThatHookOnly(t *testing.T) {
	s := newStack(t)
	const secret = "test-delivery-secret"
	s.forbid(secret)
	tested, other := newReceiver(t, http.StatusOK), newReceiver(t, http.StatusOK)
	h := s.api.createHook("app-1", map[string]any{
		"url": tested.URL() + "/hook", "events": []string{"all"}, "headers": map[string]string{"X-Team": "mobile"}, "secret": secret,
	})
	o := s.api.createHook("app-1", map[string]any{"url": other.URL() + "/", "events": []string{"all"}})

	req := s.api.sendTest("app-1", h.Slug, nil)
	if req.Message != "test delivery requested" || !uuidPattern.MatchString(req.Data.Slug) ||
		req.Data.EventType != "build/finished" || req.Data.BuildSlug != "hookd-test-"+req.Data.Slug || req.Data.RequestSequence == 0 {
		t.Fatalf("202 answer %+v", req)
	}
	items := s.api.waitItems("app-1", h.Slug, 1)
	reqs := tested.Requests()
	if len(reqs) != 1 {
		t.Fatalf("the tested hook's receiver got %d requests, want exactly 1", len(reqs))
	}
	got := reqs[0]
	want := `{"build_slug":"hookd-test-` + req.Data.Slug + `","build_number":0,"app_slug":"app-1","build_status":1,` +
		`"build_triggered_workflow":"hookd-test","git":{"provider":"hookd","src_branch":"hookd-test"}}`
	if string(got.Body) != want {
		t.Errorf("body sent = %s\nwant %s", got.Body, want)
	}
	for name, want := range map[string]string{
		"Content-Type":           "application/json",
		"Bitrise-Event-Type":     "build/finished",
		"Bitrise-App-Id":         "app-1",
		"X-Team":                 "mobile",
		"Webhook-Id":             req.Data.Slug,
		"Bitrise-Hook-Signature": sign(secret, got.Body),
	} {
		if v := got.Header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("received header %s = %q, want %q", name, v, want)
		}
	}
	if got.Header.Get("Webhook-Signature") == "" {
		t.Errorf("no Webhook-Signature on a test of a hook with a secret")
	}

	it := items[0]
	if it.Slug != req.Data.Slug || !it.Test || it.BuildSlug != req.Data.BuildSlug || it.EventType != "build/finished" ||
		it.RequestSequence != req.Data.RequestSequence || it.BuildEventSequence != 0 || it.Status != "succeeded" ||
		it.RequestPayload != string(got.Body) {
		t.Errorf("test item = %+v", it)
	}
	raw := s.api.rawItems("app-1", h.Slug)[0]
	checkItemShape(t, raw, "error", "redelivery_of", "build_event_id")
	if string(raw["test"]) != "true" {
		t.Errorf("test = %s, want true", raw["test"])
	}
	var one struct{ Data map[string]json.RawMessage }
	s.api.do(http.MethodGet, itemsPath("app-1", h.Slug)+"/"+req.Data.Slug, nil).expect(t, http.StatusOK).decode(t, &one)
	if string(one.Data["test"]) != "true" || string(one.Data["build_event_id"]) != "null" {
		t.Errorf("GET item: test %s, build_event_id %s", one.Data["test"], one.Data["build_event_id"])
	}
	filtered := s.api.listItems("app-1", h.Slug, "?build_slug="+req.Data.BuildSlug)
	if len(filtered.Data) != 1 || filtered.Data[0].Slug != req.Data.Slug {
		t.Errorf("?build_slug=%s lists %+v, want the test item", req.Data.BuildSlug, filtered.Data)
	}

	// No build event was made, and no other hook got the test: a build
	// sent after it reaches the other hook as its first and only request
	// (one receiver's sends go out in log order).
	if l := s.api.listBuildEvents("app-1", ""); len(l.Data) != 0 {
		t.Errorf("a test made %d build events, want none", len(l.Data))
	}
	s.api.sendBuild("app-1", "build/finished", buildBody(1))
	if l := s.api.waitItems("app-1", o.Slug, 1); len(l) != 1 || l[0].Test || l[0].BuildSlug != "build-1" {
		t.Errorf("the other hook's items %+v, want only build-1's", l)
	}
	if got := other.Requests(); len(got) != 1 || strings.Contains(string(got[0].Body), "hookd-test-") {
		t.Errorf("the other hook's receiver got %d requests (%v), want only the build's", len(got), got)
	}
	s.api.waitItems("app-1", h.Slug, 2)
	counts := map[string]int{}
	r := eventlog.NewReader(s.store, eventlog.Topic, 1)
	for r.Next(t.Context()) {
		counts[r.Entry().Name()]++
	}
	if counts[domain.NameTestDeliveryRequested] != 1 || counts[domain.NameDeliveryRequested] != 2 || counts[domain.NameDeliveryAttempted] != 3 {
		t.Errorf("log entries by name %v, want one test request, two delivery.requested (the build's), three attempts", counts)
	}

	// A test item is not redelivered.
	msg := s.api.do(http.MethodPost, itemsPath("app-1", h.Slug)+"/"+req.Data.Slug+"/redeliver", nil).expectError(t, http.StatusBadRequest, "test")
	if !strings.Contains(msg, "/test") {
		t.Errorf("redeliver of a test item: %q, want it to point at POST .../test", msg)
	}
	if n := len(tested.Requests()); n != 2 {
		t.Errorf("receiver got %d requests in the end, want 2 (the test, the build)", n)
	}
}

func TestTestDeliveryOfTriggeredGoesToAHookThatSelectsOnlyFinished(t *testing.T) {
	s := newStack(t)
	rc := newReceiver(t, http.StatusOK)
	h := s.api.createHook("app-1", map[string]any{"url": rc.URL() + "/", "events": []string{"build/finished"}})
	req := s.api.sendTest("app-1", h.Slug, map[string]any{"event_type": "build/triggered", "extra": 1})
	it := s.api.waitItems("app-1", h.Slug, 1)[0]
	got := rc.Requests()
	if len(got) != 1 || got[0].Header.Get("Bitrise-Event-Type") != "build/triggered" || got[0].Header.Get("Bitrise-Hook-Signature") != "" {
		t.Fatalf("receiver got %+v, want one unsigned build/triggered", got)
	}
	var p domain.BuildPayload
	if err := json.Unmarshal(got[0].Body, &p); err != nil || p.BuildStatus != 0 || p.BuildNumber != 0 || p.BuildSlug != req.Data.BuildSlug {
		t.Errorf("payload %s (%v)", got[0].Body, err)
	}
	if !it.Test || it.EventType != "build/triggered" || req.Data.EventType != "build/triggered" {
		t.Errorf("item %+v, answer %+v", it, req)
	}
	// An explicit null is the default type; so is an empty body.
	for _, body := range []any{`{"event_type":null}`, " \n"} {
		if r := s.api.sendTest("app-1", h.Slug, body); r.Data.EventType != "build/finished" {
			t.Errorf("body %q: event_type %q, want build/finished", body, r.Data.EventType)
		}
	}
	s.api.waitItems("app-1", h.Slug, 3)
}

func TestTestDeliveryRefusesBadInputAndUnknownOrDeletedHooks(t *testing.T) {
	s := newStack(t)
	rc := newReceiver(t, http.StatusOK)
	h := s.api.createHook("app-1", map[string]any{"url": rc.URL() + "/", "events": []string{"all"}})
	gone := s.api.createHook("app-1", map[string]any{"url": rc.URL() + "/", "events": []string{"all"}})
	s.api.do(http.MethodDelete, hookPath("app-1", gone.Slug), nil).expect(t, http.StatusOK)
	head := s.head()
	for _, tc := range []struct {
		name, path string
		body       any
		status     int
		words      []string
	}{
		{"unknown event type", hookPath("app-1", h.Slug) + "/test", map[string]any{"event_type": "build/started"}, 400, []string{"event_type", "build/finished"}},
		{"empty event type", hookPath("app-1", h.Slug) + "/test", map[string]any{"event_type": ""}, 400, []string{"event_type"}},
		{"event type not a string", hookPath("app-1", h.Slug) + "/test", map[string]any{"event_type": 1}, 400, []string{"event_type"}},
		{"event selector, not a type", hookPath("app-1", h.Slug) + "/test", map[string]any{"event_type": "all"}, 400, []string{"event_type"}},
		{"malformed JSON", hookPath("app-1", h.Slug) + "/test", `{"event_type":`, 400, nil},
		{"not an object", hookPath("app-1", h.Slug) + "/test", `["build/finished"]`, 400, nil},
		{"unknown hook", hookPath("app-1", "00000000-0000-4000-8000-000000000000") + "/test", nil, 404, []string{"webhook"}},
		{"deleted hook", hookPath("app-1", gone.Slug) + "/test", nil, 404, []string{"webhook"}},
		{"another app's hook", hookPath("app-2", h.Slug) + "/test", nil, 404, []string{"webhook"}},
		{"malformed hook slug", hookPath("app-1", "-x") + "/test", nil, 404, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.api.do(http.MethodPost, tc.path, tc.body).expectError(t, tc.status, tc.words...)
		})
	}
	s.api.do(http.MethodGet, hookPath("app-1", h.Slug)+"/test", nil).expectError(t, http.StatusMethodNotAllowed)
	if got := s.head(); got != head {
		t.Errorf("refused tests appended %d entries, want none", got-head)
	}
	if n := len(rc.Requests()); n != 0 {
		t.Errorf("receiver got %d requests, want none", n)
	}
}

func TestRedeliverFailedSkipsTestDeliveries(t *testing.T) {
	s := newStack(t)
	rc := newReceiver(t, http.StatusInternalServerError)
	h := s.api.createHook("app-1", map[string]any{"url": rc.URL() + "/", "events": []string{"all"}})
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	s.api.sendTest("app-1", h.Slug, nil)
	s.api.sendBuild("app-1", "build/finished", buildBody(1))
	items := s.api.waitItems("app-1", h.Slug, 2)
	for _, it := range items {
		if it.Status != "failed" {
			t.Fatalf("item %+v did not fail against a 500 receiver", it)
		}
	}
	failed := s.api.listItems("app-1", h.Slug, "?status=failed")
	if failed.Paging.TotalItemCount != 2 {
		t.Errorf("?status=failed counts %d, want 2 (a failed test is a failed item)", failed.Paging.TotalItemCount)
	}
	var bulk struct {
		Data struct {
			Requested int      `json:"requested"`
			Slugs     []string `json:"slugs"`
		} `json:"data"`
	}
	s.api.do(http.MethodPost, hookPath("app-1", h.Slug)+"/redeliver-failed", map[string]any{"since": since}).
		expect(t, http.StatusOK).decode(t, &bulk)
	if bulk.Data.Requested != 1 {
		t.Fatalf("redeliver-failed requested %d, want 1 (the build's item, not the test's)", bulk.Data.Requested)
	}
	re := s.api.waitItems("app-1", h.Slug, 3)[0]
	if re.Test || re.RedeliveryOf == nil || re.BuildSlug != "build-1" {
		t.Errorf("the redelivery %+v, want one of build-1, not of the test", re)
	}
}
