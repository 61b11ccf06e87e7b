package httpapi_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestRedeliverSendsOriginalPayloadToCurrentURL(t *testing.T) {
	s := newStack(t)
	const secret = "redeliver-secret"
	s.forbid(secret)
	first := newReceiver(t, http.StatusOK)
	second := newReceiver(t, http.StatusAccepted)
	h := s.api.createHook("app-1", map[string]any{
		"url": first.URL() + "/first", "events": []string{"all"},
		"headers": map[string]string{"X-Custom": "before"}, "secret": secret,
	})
	s.api.sendBuild("app-1", "build/finished", buildBody(9))
	orig := s.api.waitItems("app-1", h.Slug, 1)[0]

	s.api.do(http.MethodPut, hookPath("app-1", h.Slug), map[string]any{
		"url": second.URL() + "/second", "events": []string{"all"}, "headers": map[string]string{"X-Custom": "after"},
	}).expect(t, http.StatusOK)

	r := s.api.do(http.MethodPost, itemsPath("app-1", h.Slug)+"/"+orig.Slug+"/redeliver", nil).expect(t, http.StatusOK)
	var out struct {
		Message string
		Data    map[string]string
	}
	r.decode(t, &out)
	if out.Message != "redelivery requested" || len(out.Data) != 1 {
		t.Errorf("answer = %s", r.Body)
	}
	slug := out.Data["slug"]
	if !uuidPattern.MatchString(slug) || slug == orig.Slug {
		t.Fatalf("new item slug %q, want a fresh UUID", slug)
	}

	items := s.api.waitItems("app-1", h.Slug, 2)
	re := items[0]
	if re.Slug != slug {
		t.Fatalf("newest item is %s, want the redelivery %s", re.Slug, slug)
	}
	if re.RedeliveryOf == nil || *re.RedeliveryOf != orig.Slug {
		t.Errorf("redelivery_of = %v, want %s", re.RedeliveryOf, orig.Slug)
	}
	if re.RequestPayload != orig.RequestPayload || re.EventType != orig.EventType {
		t.Errorf("redelivered payload %s (%s), want %s (%s)", re.RequestPayload, re.EventType, orig.RequestPayload, orig.EventType)
	}
	if re.RequestURL != second.URL()+"/second" {
		t.Errorf("redelivered to %s, want the hook's current URL %s", re.RequestURL, second.URL()+"/second")
	}
	if re.ResponseHTTPStatus == nil || *re.ResponseHTTPStatus != http.StatusAccepted {
		t.Errorf("response_http_status = %v, want the second receiver's 202", re.ResponseHTTPStatus)
	}
	if items[1].Slug != orig.Slug || items[1].RedeliveryOf != nil {
		t.Errorf("original item now = %+v", items[1])
	}
	checkItemShape(t, s.api.rawItems("app-1", h.Slug)[0], "error")

	if n := len(first.Requests()); n != 1 {
		t.Errorf("first receiver got %d requests, want only the original 1", n)
	}
	got := second.Requests()
	if len(got) != 1 {
		t.Fatalf("second receiver got %d requests, want the redelivery", len(got))
	}
	if string(got[0].Body) != orig.RequestPayload {
		t.Errorf("second receiver got body %s, want the original payload %s", got[0].Body, orig.RequestPayload)
	}
	if sig := got[0].Header.Get("Bitrise-Hook-Signature"); sig != sign(secret, got[0].Body) {
		t.Errorf("redelivery signature %q, want one made with the kept secret", sig)
	}
	if v := got[0].Header.Get("X-Custom"); v != "after" {
		t.Errorf("redelivery X-Custom = %q, want the hook's current header", v)
	}

	var one struct{ Data itemOut }
	s.api.do(http.MethodGet, itemsPath("app-1", h.Slug)+"/"+slug, nil).expect(t, http.StatusOK).decode(t, &one)
	if !reflect.DeepEqual(one.Data, re) {
		t.Errorf("GET redelivered item = %+v\nlisted %+v", one.Data, re)
	}
}

func TestRedeliverUnknownItemIsNotFound(t *testing.T) {
	s := newStack(t)
	rc := newReceiver(t, http.StatusOK)
	a := s.api.createHook("app-1", map[string]any{"url": rc.URL() + "/a", "events": []string{"all"}})
	b := s.api.createHook("app-1", map[string]any{"url": rc.URL() + "/b", "events": []string{"build/finished"}})
	s.api.sendBuild("app-1", "build/triggered", buildBody(1))
	item := s.api.waitItems("app-1", a.Slug, 1)[0]

	before := s.head()
	for _, tc := range []struct{ name, path string }{
		{"unknown item", itemsPath("app-1", a.Slug) + "/no-such-item/redeliver"},
		{"item of another hook", itemsPath("app-1", b.Slug) + "/" + item.Slug + "/redeliver"},
		{"unknown hook", itemsPath("app-1", "no-such-hook") + "/" + item.Slug + "/redeliver"},
		{"hook of another app", itemsPath("app-2", a.Slug) + "/" + item.Slug + "/redeliver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.api.do(http.MethodPost, tc.path, nil).expectError(t, http.StatusNotFound, "not found")
			s.api.do(http.MethodGet, strings.TrimSuffix(tc.path, "/redeliver"), nil).expectError(t, http.StatusNotFound, "not found")
		})
	}
	if after := s.head(); after != before {
		t.Errorf("log head moved from %d to %d on rejected redeliveries", before, after)
	}
}
