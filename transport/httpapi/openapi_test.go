package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gorilla/mux"

	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/httpapi"
)

// The OpenAPI contract (openapi.json) is checked three ways: it is a valid
// OpenAPI 3 document; it lists exactly the router's routes; and a realistic
// session through the real stack, every request and response of which is
// validated against it, calls every operation it lists.

// loadContract parses and validates the embedded document.
func loadContract(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpapi.OpenAPIDocument)
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableSchemaFormatValidation()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// documentedOps is every operation of the document as "METHOD /path".
func documentedOps(doc *openapi3.T) []string {
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(ops)
	return ops
}

// routerOps is every route of a router as "METHOD /path".
func routerOps(t *testing.T, cfg httpapi.Config) []string {
	t.Helper()
	h := httpapi.NewRouter(cfg)
	r, ok := h.(*mux.Router)
	if !ok {
		t.Fatalf("NewRouter returned %T, want *mux.Router to walk its routes", h)
	}
	var ops []string
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			return fmt.Errorf("route %s has no method matcher: %w", path, err)
		}
		for _, m := range methods {
			ops = append(ops, m+" "+path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the router: %v", err)
	}
	sort.Strings(ops)
	return ops
}

// outsideContract are the optional routes the document leaves out on
// purpose: Prometheus text and the web page, mounted only when configured.
var outsideContract = []string{"GET /", "GET /assets/", "GET /metrics", "HEAD /", "HEAD /assets/"}

func TestOpenAPIDocumentListsExactlyTheRouterRoutes(t *testing.T) {
	doc := loadContract(t)
	documented := documentedOps(doc)
	routed := routerOps(t, httpapi.Config{})
	if !slices.Equal(documented, routed) {
		t.Errorf("document and router disagree\nonly in the document: %v\nonly in the router:   %v",
			minus(documented, routed), minus(routed, documented))
	}

	// With the optional mounts, the router has exactly the documented
	// routes plus the known exceptions.
	full := routerOps(t, httpapi.Config{UI: http.NotFoundHandler(), Metrics: http.NotFoundHandler()})
	want := slices.Sorted(slices.Values(append(slices.Clone(documented), outsideContract...)))
	if !slices.Equal(full, want) {
		t.Errorf("with UI and metrics mounted, routes beyond the document: %v, want exactly %v",
			minus(full, documented), outsideContract)
	}

	// Every /v0.1 operation needs the token (the document's default);
	// only the service routes opt out.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			public := op.Security != nil && len(*op.Security) == 0
			if v01 := strings.HasPrefix(path, "/v0.1/"); v01 == public {
				t.Errorf("%s %s: unauthenticated = %v, want %v", method, path, public, !v01)
			}
		}
	}
}

func TestOpenAPIDocumentIsServedAtOpenAPIJSON(t *testing.T) {
	loadContract(t)
	s := newStack(t, func(c *service.Config) { c.APIToken = "tok" })
	r := s.api.do(http.MethodGet, "/openapi.json", nil).expect(t, http.StatusOK)
	if !bytes.Equal(r.Body, httpapi.OpenAPIDocument) {
		t.Errorf("GET /openapi.json served %d bytes that differ from the embedded openapi.json (%d bytes)",
			len(r.Body), len(httpapi.OpenAPIDocument))
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}

func TestOpenAPISessionMatchesTheDocument(t *testing.T) {
	start := time.Now()
	doc := loadContract(t)
	s := newStack(t)
	const token = "openapi-session-token"
	v := newContract(t, doc)
	raw := s.serve(func(c *httpapi.Config) { c.APIToken = token })
	anon := v.wrap(raw)
	api := anon.withHeader("Authorization", "Bearer "+token)

	// The contract itself, health and readiness: public.
	r := anon.do(http.MethodGet, "/openapi.json", nil).expect(t, http.StatusOK)
	if !bytes.Equal(r.Body, httpapi.OpenAPIDocument) {
		t.Errorf("GET /openapi.json does not serve the embedded document")
	}
	anon.do(http.MethodHead, "/openapi.json", nil).expect(t, http.StatusOK)
	anon.do(http.MethodGet, "/healthz", nil).expect(t, http.StatusOK)
	anon.do(http.MethodHead, "/healthz", nil).expect(t, http.StatusOK)
	anon.do(http.MethodGet, "/readyz", nil).expect(t, http.StatusOK)
	anon.do(http.MethodHead, "/readyz", nil).expect(t, http.StatusOK)
	notReady := v.wrap(s.serve(func(c *httpapi.Config) {
		c.APIToken = token
		c.Ready = func(context.Context) error { return errors.New("views are 5000 events behind") }
	}))
	v.allow5xx(func() {
		notReady.doAllowing5xx(http.MethodGet, "/readyz", nil).expect(t, http.StatusServiceUnavailable)
	})
	v.allow5xx(func() {
		notReady.doAllowing5xx(http.MethodHead, "/readyz", nil).expect(t, http.StatusServiceUnavailable)
	})

	// Hooks: one to a receiver that answers 200, one to an address that
	// refuses connections (so the response fields are null), one to a
	// receiver that answers 500.
	const hookSecret = "openapi-hook-secret"
	s.forbid(hookSecret)
	ok := newReceiver(t, http.StatusOK)
	failing := newReceiver(t, http.StatusInternalServerError)
	good := api.createHook("app-1", map[string]any{
		"url": ok.URL() + "/hook", "events": []string{"build/finished"},
		"headers": map[string]string{"X-Team": "mobile"}, "secret": hookSecret,
	})
	refused := api.createHook("app-1", map[string]any{"url": closedURL(t), "events": []string{"all"}})
	erroring := api.createHook("app-1", map[string]any{
		"url": failing.URL() + "/", "events": []string{"build", "build/triggered"}, "headers": nil, "secret": nil,
	})
	for _, q := range []string{"", "?limit=2", "?limit=500"} {
		l := api.listHooks("app-1", q)
		if q == "?limit=2" {
			if l.Paging.Next == nil || len(l.Data) != 2 {
				t.Fatalf("GET hooks%s: %d hooks, next %v; want 2 and a next page", q, len(l.Data), l.Paging.Next)
			}
			last := api.listHooks("app-1", "?limit=2&next="+*l.Paging.Next)
			if len(last.Data) != 1 || last.Paging.Next != nil {
				t.Errorf("last page of hooks: %d hooks, next %v", len(last.Data), last.Paging.Next)
			}
		}
		if q == "?limit=500" && l.Paging.PageItemLimit != httpapi.MaxLimit {
			t.Errorf("limit=500: page_item_limit %d, want it clamped to %d", l.Paging.PageItemLimit, httpapi.MaxLimit)
		}
	}
	api.listHooks("app-without-hooks", "")
	api.do(http.MethodGet, hookPath("app-1", good.Slug), nil).expect(t, http.StatusOK)
	api.do(http.MethodPut, hookPath("app-1", good.Slug), map[string]any{
		"url": ok.URL() + "/hook", "events": []string{"all"}, "headers": map[string]string{"X-Team": "web"},
	}).expect(t, http.StatusOK)
	api.do(http.MethodPut, hookPath("app-1", erroring.Slug), map[string]any{
		"url": failing.URL() + "/v2", "events": []string{"all"}, "headers": nil, "secret": "",
	}).expect(t, http.StatusOK)

	// The other accepted forms of the token.
	anon.withHeader("Authorization", token).do(http.MethodGet, hookPath("app-1", good.Slug), nil).expect(t, http.StatusOK)
	anon.withHeader("Authorization", "token "+token).do(http.MethodGet, hookPath("app-1", good.Slug), nil).expect(t, http.StatusOK)

	// Build events: every optional field, then only the required ones.
	full := buildBody(1)
	full["app_slug"] = "app-1"
	full["git"] = map[string]any{"provider": "github", "src_branch": "feature/x", "dst_branch": "main", "pull_request_id": 32, "tag": "v1.0.0"}
	api.sendBuild("app-1", "build/finished", full)
	api.sendBuild("app-1", "build/triggered", map[string]any{"build_slug": "build-2", "build_number": 2, "build_status": 0})
	api.sendBuild("app-1", "build/finished", map[string]any{
		"build_slug": "build-3", "build_number": 3, "build_status": 1, "build_triggered_workflow": nil, "git": nil, "extra": true,
	})

	goodItems := api.waitItems("app-1", good.Slug, 3)
	refusedItems := api.waitItems("app-1", refused.Slug, 3)
	api.waitItems("app-1", erroring.Slug, 3)
	if refusedItems[0].Error == nil || refusedItems[0].ResponseHTTPStatus != nil {
		t.Errorf("an item of the refused hook has error %v and status %v, want an error and no status",
			refusedItems[0].Error, refusedItems[0].ResponseHTTPStatus)
	}
	page := api.listItems("app-1", good.Slug, "?limit=1")
	if page.Paging.Next == nil {
		t.Fatalf("delivery items with limit=1 has no next page")
	}
	api.listItems("app-1", good.Slug, "?limit=1&next="+*page.Paging.Next)
	api.do(http.MethodGet, itemsPath("app-1", good.Slug)+"/"+goodItems[0].Slug, nil).expect(t, http.StatusOK)
	api.do(http.MethodGet, itemsPath("app-1", refused.Slug)+"/"+refusedItems[0].Slug, nil).expect(t, http.StatusOK)

	// Build events: listed, paged, and each with its deliveries.
	events := api.listBuildEvents("app-1", "")
	if len(events.Data) != 3 {
		t.Fatalf("GET build-events: %d events, want 3", len(events.Data))
	}
	pageOne := api.listBuildEvents("app-1", "?limit=2")
	if pageOne.Paging.Next == nil {
		t.Fatalf("build events with limit=2 has no next page")
	}
	api.listBuildEvents("app-1", "?limit=2&next="+*pageOne.Paging.Next)
	api.listBuildEvents("app-without-events", "")
	detail := api.waitBuildEvent("app-1", events.Data[0].EventID, 3)
	if len(detail.Deliveries) != 3 {
		t.Errorf("build event %s: %d deliveries, want 3", events.Data[0].EventID, len(detail.Deliveries))
	}
	// Filtered delivery items.
	for _, q := range []string{"?status=failed", "?status=succeeded", "?build_slug=build-1", "?since=" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		"?until=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + "&status=succeeded&limit=1"} {
		api.listItems("app-1", good.Slug, q)
	}
	api.listHooks("app-1", "?include_deleted=true")

	// Redeliver one item of each kind; the new items appear linked.
	for _, tc := range []struct {
		hook hookOut
		item itemOut
		n    int
	}{{good, goodItems[0], 4}, {refused, refusedItems[0], 4}} {
		api.do(http.MethodPost, itemsPath("app-1", tc.hook.Slug)+"/"+tc.item.Slug+"/redeliver", nil).expect(t, http.StatusOK)
		if re := api.waitItems("app-1", tc.hook.Slug, tc.n)[0]; re.RedeliveryOf == nil {
			t.Errorf("newest item of %s is not a redelivery: %+v", tc.hook.Slug, re)
		}
	}

	// Bulk redelivery of the failed items since an hour ago.
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	var bulk struct {
		Data struct {
			Requested int      `json:"requested"`
			Slugs     []string `json:"slugs"`
		} `json:"data"`
	}
	api.do(http.MethodPost, hookPath("app-1", refused.Slug)+"/redeliver-failed", map[string]any{"since": since}).
		expect(t, http.StatusOK).decode(t, &bulk)
	if bulk.Data.Requested == 0 || bulk.Data.Requested != len(bulk.Data.Slugs) {
		t.Errorf("redeliver-failed of a hook whose every delivery failed: %+v, want some requested", bulk.Data)
	}

	// Test deliveries: the default type with no body, then one named; each
	// appears as a test item (build_event_id null, test true).
	var testItem itemOut
	for i, body := range []any{nil, map[string]any{"event_type": "build/triggered"}} {
		var req struct{ Data struct{ Slug string } }
		api.do(http.MethodPost, hookPath("app-1", good.Slug)+"/test", body).expect(t, http.StatusAccepted).decode(t, &req)
		testItem = api.waitItems("app-1", good.Slug, 5+i)[0]
		if testItem.Slug != req.Data.Slug || !testItem.Test || testItem.BuildEventID != "" {
			t.Errorf("newest item of %s after a test: %+v, want test item %s", good.Slug, testItem, req.Data.Slug)
		}
	}

	// Errors the document's request schemas also reject.
	unknown := "00000000-0000-4000-8000-000000000000"
	for _, tc := range []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
	}{
		{"unknown event", http.MethodPost, hooksPath("app-1"), hookBody(map[string]any{"events": []string{"push"}}), nil, 400},
		{"no url", http.MethodPost, hooksPath("app-1"), hookBody(map[string]any{"url": nil}), nil, 400},
		{"no events", http.MethodPut, hookPath("app-1", good.Slug), hookBody(map[string]any{"events": []string{}}), nil, 400},
		{"header value not a string", http.MethodPost, hooksPath("app-1"), hookBody(map[string]any{"headers": map[string]any{"X-N": 1}}), nil, 400},
		{"bad app slug", http.MethodGet, "/v0.1/apps/-app/outgoing-webhooks", nil, nil, 400},
		{"limit 0", http.MethodGet, hooksPath("app-1") + "?limit=0", nil, nil, 400},
		{"limit not a number", http.MethodGet, itemsPath("app-1", good.Slug) + "?limit=ten", nil, nil, 400},
		{"no event type", http.MethodPost, buildEventsPath("app-1"), buildBody(9), nil, 400},
		{"unknown event type", http.MethodPost, buildEventsPath("app-1"), buildBody(9), []string{"Bitrise-Event-Type", "build/started"}, 400},
		{"build number as a string", http.MethodPost, buildEventsPath("app-1"), map[string]any{"build_slug": "b", "build_number": "9", "build_status": 0},
			[]string{"Bitrise-Event-Type", "build/finished"}, 400},
		{"no build status", http.MethodPost, buildEventsPath("app-1"), map[string]any{"build_slug": "b", "build_number": 9},
			[]string{"Bitrise-Event-Type", "build/finished"}, 400},
		{"since not a time", http.MethodPost, hookPath("app-1", refused.Slug) + "/redeliver-failed", map[string]any{"since": "yesterday"}, nil, 400},
		{"malformed hook slug", http.MethodGet, hooksPath("app-1") + "/-x", nil, nil, 404},
		{"unknown status filter", http.MethodGet, itemsPath("app-1", good.Slug) + "?status=foo", nil, nil, 400},
		{"since not a time in a filter", http.MethodGet, itemsPath("app-1", good.Slug) + "?since=yesterday", nil, nil, 400},
		{"empty build slug filter", http.MethodGet, itemsPath("app-1", good.Slug) + "?build_slug=", nil, nil, 400},
		{"include_deleted not a boolean", http.MethodGet, hooksPath("app-1") + "?include_deleted=yes", nil, nil, 400},
		{"malformed event id", http.MethodGet, buildEventsPath("app-1") + "/-x", nil, nil, 404},
		{"unknown test event type", http.MethodPost, hookPath("app-1", good.Slug) + "/test", map[string]any{"event_type": "build/started"}, nil, 400},
	} {
		v.rejected(func() { api.do(tc.method, tc.path, tc.body, tc.headers...).expectError(t, tc.status) }, tc.name)
	}
	v.rejected(func() {
		anon.do(http.MethodGet, hooksPath("app-1"), nil).expectError(t, http.StatusUnauthorized, "token")
	}, "no token")

	// Errors for requests the document accepts: the answers must match it.
	for _, tc := range []struct {
		method, path string
		body         any
		headers      []string
		status       int
	}{
		{http.MethodPost, buildEventsPath("app-1"), map[string]any{"build_slug": "b", "build_number": 1, "build_status": 0, "app_slug": "app-2"},
			[]string{"Bitrise-Event-Type", "build/finished"}, 400},
		{http.MethodPost, hooksPath("app-1"), hookBody(map[string]any{"url": "ftp://example.com/"}), nil, 400},
		{http.MethodPost, hooksPath("app-1"), hookBody(map[string]any{"headers": map[string]string{"Content-Type": "text/plain"}}), nil, 400},
		{http.MethodGet, hooksPath("app-1") + "?next=not-an-anchor", nil, nil, 400},
		{http.MethodGet, itemsPath("app-1", good.Slug) + "?next=" + projections.EncodeAnchor(1) + "x", nil, nil, 400},
		{http.MethodGet, hookPath("app-1", unknown), nil, nil, 404},
		{http.MethodGet, hookPath("app-2", good.Slug), nil, nil, 404},
		{http.MethodPut, hookPath("app-1", unknown), hookBody(nil), nil, 404},
		{http.MethodDelete, hookPath("app-1", unknown), nil, nil, 404},
		{http.MethodGet, itemsPath("app-1", unknown), nil, nil, 404},
		{http.MethodGet, buildEventsPath("app-1") + "/" + unknown, nil, nil, 404},
		{http.MethodGet, buildEventsPath("app-2") + "/" + events.Data[0].EventID, nil, nil, 404},
		{http.MethodGet, itemsPath("app-1", good.Slug) + "?since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", nil, nil, 400},
		{http.MethodGet, itemsPath("app-1", good.Slug) + "/" + unknown, nil, nil, 404},
		{http.MethodPost, itemsPath("app-1", good.Slug) + "/" + unknown + "/redeliver", nil, nil, 404},
		{http.MethodPost, hookPath("app-1", unknown) + "/redeliver-failed", map[string]any{"since": since}, nil, 404},
		{http.MethodPost, hookPath("app-1", unknown) + "/test", nil, nil, 404},
		{http.MethodPost, itemsPath("app-1", good.Slug) + "/" + testItem.Slug + "/redeliver", nil, nil, 400},
		{http.MethodPost, hooksPath("app-1"), paddedHookBody(httpapi.MaxBodyBytes + 1), nil, 413},
		{http.MethodPut, hookPath("app-1", good.Slug), paddedHookBody(httpapi.MaxBodyBytes + 1), nil, 413},
		{http.MethodPost, buildEventsPath("app-1"), paddedBuildBody(httpapi.MaxBodyBytes + 1), []string{"Bitrise-Event-Type", "build/finished"}, 413},
	} {
		api.do(tc.method, tc.path, tc.body, tc.headers...).expectError(t, tc.status)
	}
	anon.withHeader("Authorization", "Bearer wrong").do(http.MethodGet, hooksPath("app-1"), nil).expectError(t, http.StatusUnauthorized, "token")

	// Paths and methods the document does not list: 404 and 405.
	v.unrouted(func() { api.do(http.MethodGet, "/v0.1/apps/app-1/unknown", nil).expectError(t, http.StatusNotFound) })
	v.unrouted(func() {
		api.do(http.MethodPatch, hookPath("app-1", good.Slug), hookBody(nil)).expectError(t, http.StatusMethodNotAllowed)
	})
	v.unrouted(func() {
		api.do(http.MethodPut, buildEventsPath("app-1"), nil).expectError(t, http.StatusMethodNotAllowed)
	})

	// 503 when the log refuses appends, 500 on a bug.
	refusing := &refusingLog{next: s.base.Log}
	refusing.refuse.Store(true)
	down := v.wrap(s.serve(func(c *httpapi.Config) { c.APIToken = token; c.Log = refusing }))
	v.allow5xx(func() {
		down.doAllowing5xx(http.MethodPost, buildEventsPath("app-1"), buildBody(5),
			"Bitrise-Event-Type", "build/finished", "Authorization", token).
			expectError(t, http.StatusServiceUnavailable, "event log")
	})
	broken := v.wrap(s.serve(func(c *httpapi.Config) { c.APIToken = token; c.Views = brokenViews{c.Views} }))
	v.allow5xx(func() {
		broken.doAllowing5xx(http.MethodGet, hooksPath("app-1"), nil, "Authorization", token).
			expectError(t, http.StatusInternalServerError, "internal")
	})

	// Delete last, then the hook is gone.
	api.do(http.MethodDelete, hookPath("app-1", erroring.Slug), nil).expect(t, http.StatusOK)
	api.do(http.MethodGet, hookPath("app-1", erroring.Slug), nil).expectError(t, http.StatusNotFound)
	api.listHooks("app-1", "?include_deleted=true")
	api.listItems("app-1", erroring.Slug, "")

	// The log itself (logstream_contract_test.go).
	logSession(t, v, api)
	adminSession(t, v, s, token)
	tokenSession(t, v, api)

	// Every documented operation was called and validated.
	if missed := minus(documentedOps(doc), v.hitOps()); len(missed) > 0 {
		t.Errorf("the session never called these documented operations: %v", missed)
	}
	t.Logf("%d exchanges validated against openapi.json in %s; statuses seen:\n%s",
		v.exchanges(), time.Since(start).Round(time.Millisecond), v.statusTable())
}

// paddedBuildBody is a build event body, valid but for its size, of n bytes.
func paddedBuildBody(n int) string {
	const head, tail = `{"build_number":1,"build_status":0,"build_slug":"`, `"}`
	return head + strings.Repeat("b", n-len(head)-len(tail)) + tail
}

// brokenViews fails every hook list the way a bug would.
type brokenViews struct{ httpapi.Views }

func (brokenViews) ListHooks(string, string, int) (projections.Page[projections.HookView], error) {
	return projections.Page[projections.HookView]{}, errors.New("views: corrupted key")
}

// minus is a without the elements of b.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// expectation is what the contract expects of the next exchange.
type expectation int

const (
	expectValid    expectation = iota // request and response match an operation
	expectRejected                    // the document rejects the request; the server must answer 4xx
	expectUnrouted                    // no operation: the server must answer 404 or 405 as the document's router does
)

// contract validates every exchange of the clients it wraps against the
// document, with kin-openapi, failing the test on any mismatch.
type contract struct {
	t       *testing.T
	doc     *openapi3.T
	router  routers.Router
	options *openapi3filter.Options

	mu      sync.Mutex
	next    expectation
	nextWhy string
	used    bool // the expectation was consumed by an exchange
	may5xx  bool
	hits    map[string]map[int]int // "METHOD /path" → status → count
	noRoute map[int]int
	total   int
}

func newContract(t *testing.T, doc *openapi3.T) *contract {
	t.Helper()
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("gorillamux.NewRouter: %v", err)
	}
	registerStreamDecoders() // logstream_contract_test.go
	uuid := openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562)
	return &contract{
		t: t, doc: doc, router: router,
		options: &openapi3filter.Options{
			IncludeResponseStatus: true, // an undocumented status is a mismatch
			MultiError:            true,
			SkipSettingDefaults:   true,
			AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
				if strings.TrimSpace(in.RequestValidationInput.Request.Header.Get("Authorization")) == "" {
					return in.NewError(errors.New("no Authorization header"))
				}
				return nil
			},
			SchemaValidationOptions: []openapi3.SchemaValidationOption{
				openapi3.WithStringFormatValidator("uuid", uuid),
				openapi3.DisableSchemaErrorDetails(), // the failure names the field; bodies can be 1 MiB
			},
		},
		hits:    map[string]map[int]int{},
		noRoute: map[int]int{},
	}
}

// wrap returns a copy of c whose exchanges are validated.
func (v *contract) wrap(c *client) *client {
	cp := *c
	cp.http = &http.Client{Transport: &validatingTransport{v: v, next: c.http.Transport}, Timeout: c.http.Timeout}
	return &cp
}

// rejected runs f, whose one exchange the document must reject.
func (v *contract) rejected(f func(), why string) { v.expecting(expectRejected, why, f) }

// unrouted runs f, whose one exchange must match no documented operation.
func (v *contract) unrouted(f func()) { v.expecting(expectUnrouted, "", f) }

func (v *contract) expecting(e expectation, why string, f func()) {
	v.t.Helper()
	v.mu.Lock()
	v.next, v.nextWhy, v.used = e, why, false
	v.mu.Unlock()
	f()
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.used {
		v.t.Errorf("%s: no exchange happened", why)
	}
	v.next, v.nextWhy = expectValid, ""
}

// allow5xx runs f, whose exchanges may answer 5xx.
func (v *contract) allow5xx(f func()) {
	v.mu.Lock()
	v.may5xx = true
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.may5xx = false
		v.mu.Unlock()
	}()
	f()
}

func (v *contract) take() (expectation, string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, why := v.next, v.nextWhy
	v.next, v.nextWhy, v.used = expectValid, "", true
	return e, why
}

func (v *contract) record(op string, status int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.total++
	if op == "" {
		v.noRoute[status]++
		return
	}
	if v.hits[op] == nil {
		v.hits[op] = map[int]int{}
	}
	v.hits[op][status]++
}

func (v *contract) hitOps() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var ops []string
	for op := range v.hits {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

func (v *contract) exchanges() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.total
}

func (v *contract) statusTable() string {
	var b strings.Builder
	for _, op := range v.hitOps() {
		v.mu.Lock()
		codes := v.hits[op]
		var parts []string
		for _, c := range slices.Sorted(maps.Keys(codes)) {
			parts = append(parts, fmt.Sprintf("%d×%d", c, codes[c]))
		}
		v.mu.Unlock()
		fmt.Fprintf(&b, "  %-90s %s\n", op, strings.Join(parts, " "))
	}
	return b.String()
}

// validatingTransport validates each request before sending it and each
// response before handing it back, against the contract's document.
type validatingTransport struct {
	v    *contract
	next http.RoundTripper
}

func (vt *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	v := vt.v
	t := v.t
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	withBody := func(r *http.Request) *http.Request {
		c := r.Clone(r.Context())
		if body != nil {
			c.Body = io.NopCloser(bytes.NewReader(body))
			c.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		return c
	}
	exp, why := v.take()
	label := req.Method + " " + req.URL.RequestURI()
	if why != "" {
		label += " (" + why + ")"
	}
	if len(label) > 200 {
		label = label[:200] + "..."
	}

	ctx := req.Context()
	vreq := withBody(req)
	route, params, routeErr := v.router.FindRoute(vreq)
	var reqInput *openapi3filter.RequestValidationInput
	switch {
	case routeErr != nil && exp != expectUnrouted:
		t.Errorf("%s: matches no documented operation: %v", label, routeErr)
	case routeErr == nil && exp == expectUnrouted:
		t.Errorf("%s: expected no documented operation, found %s %s", label, route.Method, route.Path)
	case routeErr == nil:
		reqInput = &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: v.options}
		err := openapi3filter.ValidateRequest(ctx, reqInput)
		if exp == expectValid && err != nil {
			t.Errorf("%s: request does not match the document: %v", label, err)
		}
		if exp == expectRejected && err == nil {
			t.Errorf("%s: the document accepts a request the test expects it to reject", label)
		}
		// The validator may have consumed or rewritten the body.
		reqInput.Request = withBody(req)
	}

	resp, err := vt.next.RoundTrip(withBody(req))
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	v.mu.Lock()
	may5xx := v.may5xx
	v.mu.Unlock()
	if resp.StatusCode >= 500 && !may5xx {
		t.Errorf("%s: unexpected status %d: %s", label, resp.StatusCode, respBody)
	}
	switch {
	case routeErr != nil:
		// The document's router and the server must agree on 404 and 405,
		// and the answer is still the documented error body.
		want := http.StatusNotFound
		if errors.Is(routeErr, routers.ErrMethodNotAllowed) {
			want = http.StatusMethodNotAllowed
		}
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, but by the document this is a %d", label, resp.StatusCode, want)
		}
		v.checkErrorBody(label, resp, respBody)
		v.record("", resp.StatusCode)
	default:
		if exp == expectRejected && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
			t.Errorf("%s: the document rejects this request but the server answered %d", label, resp.StatusCode)
		}
		err := openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
			RequestValidationInput: reqInput,
			Status:                 resp.StatusCode,
			Header:                 resp.Header,
			Body:                   io.NopCloser(bytes.NewReader(respBody)),
			Options:                v.options,
		})
		if err != nil {
			t.Errorf("%s: response %d does not match the document: %v\nbody: %.500s", label, resp.StatusCode, err, respBody)
		}
		v.record(strings.ToUpper(route.Method)+" "+route.Path, resp.StatusCode)
	}
	return resp, nil
}

// checkErrorBody validates a body against the document's Error schema.
func (v *contract) checkErrorBody(label string, resp *http.Response, body []byte) {
	ref := v.doc.Components.Responses["NotFound"]
	if resp.StatusCode == http.StatusMethodNotAllowed {
		ref = v.doc.Components.Responses["MethodNotAllowed"]
	}
	if ref == nil || ref.Value == nil {
		v.t.Errorf("the document has no components.responses for %d", resp.StatusCode)
		return
	}
	mt := ref.Value.Content.Get(resp.Header.Get("Content-Type"))
	if mt == nil {
		v.t.Errorf("%s: Content-Type %q is not documented", label, resp.Header.Get("Content-Type"))
		return
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		v.t.Errorf("%s: body is not JSON: %v", label, err)
		return
	}
	if err := mt.Schema.Value.VisitJSON(value, openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
		v.t.Errorf("%s: body does not match the documented error: %v", label, err)
	}
}
