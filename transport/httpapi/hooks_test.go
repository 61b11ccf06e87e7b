package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"testing"
)

func TestCreateHookAnswersWithTheHookAndNeverTheSecret(t *testing.T) {
	s := newStack(t)
	const secret = "s3cr3t-never-shown"
	s.forbid(secret)

	r := s.api.do(http.MethodPost, hooksPath("app-1"), map[string]any{
		"url":     "https://example.com/hook",
		"events":  []string{"build/triggered", "build/finished"},
		"headers": map[string]string{"x-custom": "v1"},
		"secret":  secret,
	}).expect(t, http.StatusOK)

	var raw map[string]map[string]json.RawMessage
	r.decode(t, &raw)
	want := []string{"created_at", "created_by", "events", "has_secret", "headers", "masked_headers", "slug", "updated_at", "updated_by", "url"}
	var got []string
	for k := range raw["data"] {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("data fields = %v, want %v", got, want)
	}

	var out struct{ Data hookOut }
	r.decode(t, &out)
	h := out.Data
	if h.Slug == "" || h.URL != "https://example.com/hook" || !h.HasSecret {
		t.Errorf("created hook = %+v", h)
	}
	if !slices.Equal(h.Events, []string{"build/triggered", "build/finished"}) {
		t.Errorf("events = %v", h.Events)
	}
	if !reflect.DeepEqual(h.Headers, map[string]string{"X-Custom": "v1"}) {
		t.Errorf("headers = %v, want the name canonicalised", h.Headers)
	}
	created := checkTime(t, "created_at", h.CreatedAt)
	updated := checkTime(t, "updated_at", h.UpdatedAt)
	if !created.Equal(updated) {
		t.Errorf("a new hook has created_at %s != updated_at %s", h.CreatedAt, h.UpdatedAt)
	}

	// Every way of reading the hook keeps the secret out (do checks bodies).
	s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil).expect(t, http.StatusOK)
	s.api.do(http.MethodGet, hooksPath("app-1"), nil).expect(t, http.StatusOK)

	noSecret := s.api.createHook("app-1", map[string]any{"url": "http://example.com/", "events": []string{"all"}})
	if noSecret.HasSecret {
		t.Errorf("hook created without a secret has has_secret true")
	}
	if noSecret.Headers == nil {
		t.Errorf("hook without headers answers headers null, want {}")
	}
}

func TestGetHookReturnsWhatWasCreated(t *testing.T) {
	s := newStack(t)
	h := s.api.createHook("app-1", map[string]any{
		"url": "https://example.com/a", "events": []string{"build"}, "headers": map[string]string{"X-A": "1"},
	})
	var out struct{ Data hookOut }
	s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil).expect(t, http.StatusOK).decode(t, &out)
	if !reflect.DeepEqual(out.Data, h) {
		t.Errorf("GET = %+v, want %+v", out.Data, h)
	}
}

func TestListHooksInCreationOrderWithPaging(t *testing.T) {
	s := newStack(t)
	var slugs []string
	for i := range 5 {
		h := s.api.createHook("app-1", map[string]any{
			"url": fmt.Sprintf("https://example.com/%d", i), "events": []string{"all"},
		})
		slugs = append(slugs, h.Slug)
	}
	s.api.createHook("app-2", map[string]any{"url": "https://example.com/other", "events": []string{"all"}})

	all := s.api.listHooks("app-1", "")
	if all.Paging.TotalItemCount != 5 || all.Paging.PageItemLimit != 50 || all.Paging.Next != nil {
		t.Errorf("paging = %+v, want total 5, limit 50 (default), no next", all.Paging)
	}
	var got []string
	for _, h := range all.Data {
		got = append(got, h.Slug)
	}
	if !slices.Equal(got, slugs) {
		t.Errorf("list = %v, want creation order %v", got, slugs)
	}

	// limit=1 walks every hook, one per page, and the last page has no next.
	got = nil
	query := "?limit=1"
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatalf("more pages than hooks")
		}
		r := s.api.do(http.MethodGet, hooksPath("app-1")+query, nil).expect(t, http.StatusOK)
		var l hookList
		r.decode(t, &l)
		var rawPaging struct{ Paging map[string]json.RawMessage }
		r.decode(t, &rawPaging)
		if len(l.Data) != 1 || l.Paging.TotalItemCount != 5 || l.Paging.PageItemLimit != 1 {
			t.Fatalf("page %d = %+v", page, l)
		}
		got = append(got, l.Data[0].Slug)
		if page < 4 {
			if l.Paging.Next == nil || *l.Paging.Next == "" {
				t.Fatalf("page %d has no next anchor", page)
			}
			query = "?limit=1&next=" + *l.Paging.Next
			continue
		}
		if _, ok := rawPaging.Paging["next"]; ok {
			t.Errorf("last page has a next field: %s", r.Body)
		}
		break
	}
	if !slices.Equal(got, slugs) {
		t.Errorf("paged = %v, want %v", got, slugs)
	}

	// limit=2 from the second anchor continues where page one stopped.
	p1 := s.api.listHooks("app-1", "?limit=2")
	p2 := s.api.listHooks("app-1", "?limit=2&next="+*p1.Paging.Next)
	if p2.Data[0].Slug != slugs[2] || p2.Data[1].Slug != slugs[3] {
		t.Errorf("second page of 2 = %v, want %v", p2.Data, slugs[2:4])
	}
}

func TestListHooksClampsLimitTo200(t *testing.T) {
	s := newStack(t)
	l := s.api.listHooks("app-1", "?limit=500")
	if l.Paging.PageItemLimit != 200 {
		t.Errorf("page_item_limit = %d, want 200", l.Paging.PageItemLimit)
	}
	if l.Data == nil || len(l.Data) != 0 || l.Paging.TotalItemCount != 0 {
		t.Errorf("empty app lists %+v, want data [] and total 0", l)
	}
	var raw map[string]json.RawMessage
	s.api.do(http.MethodGet, hooksPath("app-1"), nil).expect(t, http.StatusOK).decode(t, &raw)
	if string(raw["data"]) != "[]" {
		t.Errorf("empty list data = %s, want []", raw["data"])
	}
}

func TestListHooksRejectsBadPagingParameters(t *testing.T) {
	s := newStack(t)
	for _, tc := range []struct{ query, field string }{
		{"?limit=0", "limit"},
		{"?limit=-1", "limit"},
		{"?limit=abc", "limit"},
		{"?next=garbage", "next"},
		{"?next=%00%01", "next"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			s.api.do(http.MethodGet, hooksPath("app-1")+tc.query, nil).expectError(t, http.StatusBadRequest, tc.field)
		})
	}
}

func TestPutReplacesHookAndKeepsSecretWhenOmitted(t *testing.T) {
	s := newStack(t)
	s.forbid("keep-me")
	h := s.api.createHook("app-1", map[string]any{
		"url": "https://example.com/old", "events": []string{"build/triggered"},
		"headers": map[string]string{"X-Old": "1"}, "secret": "keep-me",
	})

	var out struct{ Data hookOut }
	s.api.do(http.MethodPut, hookPath("app-1", h.Slug), map[string]any{
		"url": "https://example.com/new", "events": []string{"build/finished"},
		"headers": map[string]string{"X-New": "2"},
	}).expect(t, http.StatusOK).decode(t, &out)
	u := out.Data
	if u.Slug != h.Slug || u.URL != "https://example.com/new" || !slices.Equal(u.Events, []string{"build/finished"}) {
		t.Errorf("updated = %+v", u)
	}
	if !reflect.DeepEqual(u.Headers, map[string]string{"X-New": "2"}) {
		t.Errorf("headers = %v, want replaced by {X-New: 2}", u.Headers)
	}
	if !u.HasSecret {
		t.Errorf("PUT without secret cleared it: has_secret false")
	}
	if u.CreatedAt != h.CreatedAt {
		t.Errorf("created_at changed from %s to %s", h.CreatedAt, u.CreatedAt)
	}
	if checkTime(t, "updated_at", u.UpdatedAt).Before(checkTime(t, "created_at", u.CreatedAt)) {
		t.Errorf("updated_at %s before created_at %s", u.UpdatedAt, u.CreatedAt)
	}

	var got struct{ Data hookOut }
	s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil).expect(t, http.StatusOK).decode(t, &got)
	if !reflect.DeepEqual(got.Data, u) {
		t.Errorf("GET after PUT = %+v, want %+v", got.Data, u)
	}
	if l := s.api.listHooks("app-1", ""); l.Paging.TotalItemCount != 1 || len(l.Data) != 1 {
		t.Errorf("PUT changed the number of hooks: %+v", l)
	}
}

func TestPutWithEmptySecretClearsIt(t *testing.T) {
	s := newStack(t)
	h := s.api.createHook("app-1", map[string]any{
		"url": "https://example.com/", "events": []string{"all"}, "secret": "to-be-cleared",
	})
	var out struct{ Data hookOut }
	s.api.do(http.MethodPut, hookPath("app-1", h.Slug), map[string]any{
		"url": "https://example.com/", "events": []string{"all"}, "secret": "",
	}).expect(t, http.StatusOK).decode(t, &out)
	if out.Data.HasSecret {
		t.Errorf(`PUT with "secret": "" left has_secret true`)
	}
}

func TestUnknownOrForeignHookIsNotFound(t *testing.T) {
	s := newStack(t)
	h := s.api.createHook("app-1", map[string]any{"url": "https://example.com/", "events": []string{"all"}})
	body := map[string]any{"url": "https://example.com/x", "events": []string{"all"}}
	for _, tc := range []struct{ name, app, slug string }{
		{"unknown slug", "app-1", "no-such-hook"},
		{"hook of another app", "app-2", h.Slug},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.head()
			s.api.do(http.MethodGet, hookPath(tc.app, tc.slug), nil).expectError(t, http.StatusNotFound, "not found")
			s.api.do(http.MethodPut, hookPath(tc.app, tc.slug), body).expectError(t, http.StatusNotFound, "not found")
			s.api.do(http.MethodDelete, hookPath(tc.app, tc.slug), nil).expectError(t, http.StatusNotFound, "not found")
			s.api.do(http.MethodGet, itemsPath(tc.app, tc.slug), nil).expectError(t, http.StatusNotFound, "not found")
			if after := s.head(); after != before {
				t.Errorf("log head moved from %d to %d on rejected requests", before, after)
			}
		})
	}
	// The other app's attempts changed nothing.
	var out struct{ Data hookOut }
	s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil).expect(t, http.StatusOK).decode(t, &out)
	if !reflect.DeepEqual(out.Data, h) {
		t.Errorf("hook after foreign PUT/DELETE = %+v, want %+v", out.Data, h)
	}
}

func TestDeleteHookRemovesItFromGetAndList(t *testing.T) {
	s := newStack(t)
	keep := s.api.createHook("app-1", map[string]any{"url": "https://example.com/1", "events": []string{"all"}})
	gone := s.api.createHook("app-1", map[string]any{"url": "https://example.com/2", "events": []string{"all"}})

	var out struct{ Data hookOut }
	s.api.do(http.MethodDelete, hookPath("app-1", gone.Slug), nil).expect(t, http.StatusOK).decode(t, &out)
	if out.Data.Slug != gone.Slug {
		t.Errorf("DELETE answered %+v, want the deleted hook", out.Data)
	}
	s.api.do(http.MethodGet, hookPath("app-1", gone.Slug), nil).expectError(t, http.StatusNotFound, "not found")
	s.api.do(http.MethodDelete, hookPath("app-1", gone.Slug), nil).expectError(t, http.StatusNotFound, "not found")

	l := s.api.listHooks("app-1", "")
	if l.Paging.TotalItemCount != 1 || len(l.Data) != 1 || l.Data[0].Slug != keep.Slug {
		t.Errorf("list after DELETE = %+v, want only %s", l, keep.Slug)
	}
}
