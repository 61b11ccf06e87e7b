package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/testkit"
)

// itemFields are the fields of a delivery item in the Bitrise shape.
var itemFields = []string{
	"slug", "created_at", "updated_at", "event_type", "request_url", "request_headers", "request_payload",
	"response_http_status", "response_headers", "response_body", "response_seconds", "response_ms",
	"error", "redelivery_of",
	// extensions
	"response_body_encoding", "response_headers_truncated",
}

// rawItems returns the delivery items of a hook as raw JSON fields.
func (c *client) rawItems(app, hook string) []map[string]json.RawMessage {
	c.t.Helper()
	var out struct{ Data []map[string]json.RawMessage }
	c.do(http.MethodGet, itemsPath(app, hook)+"?limit=200", nil).expect(c.t, http.StatusOK).decode(c.t, &out)
	return out.Data
}

// checkItemShape fails unless every Bitrise field is present, and the
// fields in nullFields are JSON null and the others are not.
func checkItemShape(t *testing.T, raw map[string]json.RawMessage, nullFields ...string) {
	t.Helper()
	for _, f := range itemFields {
		v, ok := raw[f]
		if !ok {
			t.Errorf("delivery item has no %q field", f)
			continue
		}
		isNull := string(v) == "null"
		if want := slices.Contains(nullFields, f); isNull != want {
			t.Errorf("delivery item field %q = %s, want null: %v", f, v, want)
		}
	}
	for _, f := range []string{"request_headers", "request_payload"} {
		var s string
		if err := json.Unmarshal(raw[f], &s); err != nil {
			t.Errorf("%s = %s, want a JSON string: %v", f, raw[f], err)
		}
	}
}

// decodeHeaders decodes a headers field (a JSON object encoded as a string).
func decodeHeaders(t *testing.T, field, s string) map[string]string {
	t.Helper()
	var h map[string]string
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		t.Fatalf("%s %q is not a JSON object of strings: %v", field, s, err)
	}
	return h
}

func TestDeliveryPostsSignedRequestAndListsItInBitriseShape(t *testing.T) {
	s := newStack(t)
	const secret = "shh-its-a-secret"
	s.forbid(secret)
	rc := newReceiver(t, http.StatusOK)
	h := s.api.createHook("app-1", map[string]any{
		"url": rc.URL() + "/hook?x=1", "events": []string{"build/triggered"},
		"headers": map[string]string{"X-Custom": "custom-value"}, "secret": secret,
	})
	s.api.sendBuild("app-1", "build/triggered", buildBody(1))

	items := s.api.waitItems("app-1", h.Slug, 1)
	reqs := rc.Requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want exactly 1", len(reqs))
	}
	got := reqs[0]
	if got.Method != http.MethodPost || got.Path != "/hook" {
		t.Errorf("receiver got %s %s, want POST /hook", got.Method, got.Path)
	}
	const wantBody = `{"build_slug":"build-1","build_number":1,"app_slug":"app-1","build_status":0,` +
		`"build_triggered_workflow":"primary","git":{"provider":"github","src_branch":"main"}}`
	if string(got.Body) != wantBody {
		t.Errorf("body sent = %s\nwant %s", got.Body, wantBody)
	}
	for name, want := range map[string]string{
		"Content-Type":           "application/json",
		"Bitrise-Event-Type":     "build/triggered",
		"Bitrise-App-Id":         "app-1",
		"X-Custom":               "custom-value",
		"Bitrise-Hook-Signature": sign(secret, got.Body),
	} {
		if v := got.Header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("received header %s = %q, want %q", name, v, want)
		}
	}

	it := items[0]
	if it.RequestPayload != string(got.Body) {
		t.Errorf("request_payload = %s\nbody received = %s", it.RequestPayload, got.Body)
	}
	if !uuidPattern.MatchString(it.Slug) || it.EventType != "build/triggered" || it.RequestURL != rc.URL()+"/hook?x=1" {
		t.Errorf("item = %+v", it)
	}
	reqHeaders := decodeHeaders(t, "request_headers", it.RequestHeaders)
	for _, name := range []string{"Content-Type", "Bitrise-Event-Type", "Bitrise-App-Id", "X-Custom", "Bitrise-Hook-Signature"} {
		if reqHeaders[name] != got.Header.Get(name) {
			t.Errorf("request_headers[%s] = %q, receiver got %q", name, reqHeaders[name], got.Header.Get(name))
		}
	}
	if it.ResponseHTTPStatus == nil || *it.ResponseHTTPStatus != 200 {
		t.Errorf("response_http_status = %v, want 200", it.ResponseHTTPStatus)
	}
	if it.ResponseHeaders == nil || decodeHeaders(t, "response_headers", *it.ResponseHeaders)["X-Receiver"] != "yes" {
		t.Errorf("response_headers = %v, want X-Receiver: yes", it.ResponseHeaders)
	}
	if it.ResponseBody == nil || *it.ResponseBody != `{"ok":true}` {
		t.Errorf("response_body = %v", it.ResponseBody)
	}
	if it.ResponseMS == nil || *it.ResponseMS < 0 || it.ResponseSeconds == nil || *it.ResponseSeconds != *it.ResponseMS/1000 {
		t.Errorf("response_ms = %v, response_seconds = %v", it.ResponseMS, it.ResponseSeconds)
	}
	checkTime(t, "created_at", it.CreatedAt)
	checkTime(t, "updated_at", it.UpdatedAt)

	raw := s.api.rawItems("app-1", h.Slug)
	checkItemShape(t, raw[0], "error", "redelivery_of")
	if enc, cut := string(raw[0]["response_body_encoding"]), string(raw[0]["response_headers_truncated"]); enc != `"utf-8"` || cut != "false" {
		t.Errorf("response_body_encoding = %s, response_headers_truncated = %s; want \"utf-8\" and false", enc, cut)
	}
	for _, f := range []string{"response_http_status", "response_seconds", "response_ms"} {
		var n int64
		if err := json.Unmarshal(raw[0][f], &n); err != nil {
			t.Errorf("%s = %s, want an integer", f, raw[0][f])
		}
	}

	var one struct{ Data itemOut }
	s.api.do(http.MethodGet, itemsPath("app-1", h.Slug)+"/"+it.Slug, nil).expect(t, http.StatusOK).decode(t, &one)
	if !reflect.DeepEqual(one.Data, it) {
		t.Errorf("GET item = %+v\nlisted    %+v", one.Data, it)
	}
	if n := len(rc.Requests()); n != 1 {
		t.Errorf("receiver got %d requests in the end, want 1", n)
	}
}

func TestDeliveryRecordsReceiverErrorStatus(t *testing.T) {
	s := newStack(t)
	rc := newReceiver(t, http.StatusInternalServerError)
	h := s.api.createHook("app-1", map[string]any{"url": rc.URL() + "/", "events": []string{"all"}})
	s.api.sendBuild("app-1", "build/finished", buildBody(1))

	it := s.api.waitItems("app-1", h.Slug, 1)[0]
	if it.ResponseHTTPStatus == nil || *it.ResponseHTTPStatus != 500 {
		t.Errorf("response_http_status = %v, want 500", it.ResponseHTTPStatus)
	}
	if it.Error != nil {
		t.Errorf("error = %q, want null when a response came", *it.Error)
	}
	if it.ResponseBody == nil || *it.ResponseBody != `{"ok":true}` || it.EventType != "build/finished" {
		t.Errorf("item = %+v", it)
	}
	checkItemShape(t, s.api.rawItems("app-1", h.Slug)[0], "error", "redelivery_of")
}

func TestDeliveryToClosedReceiverRecordsErrorAndNoResponse(t *testing.T) {
	s := newStack(t)
	url := closedURL(t)
	h := s.api.createHook("app-1", map[string]any{"url": url, "events": []string{"build/triggered"}})
	s.api.sendBuild("app-1", "build/triggered", buildBody(1))

	it := s.api.waitItems("app-1", h.Slug, 1)[0]
	if it.Error == nil || *it.Error == "" {
		t.Fatalf("error = %v, want a reason", it.Error)
	}
	if !strings.Contains(*it.Error, "refused") {
		t.Errorf("error = %q, want it to say the connection was refused", *it.Error)
	}
	if it.RequestURL != url || it.RequestPayload == "" {
		t.Errorf("a failed item still records the request: %+v", it)
	}
	raw := s.api.rawItems("app-1", h.Slug)[0]
	checkItemShape(t, raw, "response_http_status", "response_headers", "response_body", "response_seconds", "response_ms",
		"redelivery_of", "response_body_encoding")
	if cut := string(raw["response_headers_truncated"]); cut != "false" {
		t.Errorf("response_headers_truncated = %s, want false without a response", cut)
	}
}

func TestDeliveryGoesOnlyToMatchingHooksOfTheApp(t *testing.T) {
	s := newStack(t)
	triggered := newReceiver(t, http.StatusOK)
	all := newReceiver(t, http.StatusOK)
	finished := newReceiver(t, http.StatusOK)
	other := newReceiver(t, http.StatusOK)
	deleted := newReceiver(t, http.StatusOK)
	hTriggered := s.api.createHook("app-1", map[string]any{"url": triggered.URL() + "/", "events": []string{"build/triggered"}})
	hAll := s.api.createHook("app-1", map[string]any{"url": all.URL() + "/", "events": []string{"all"}})
	hFinished := s.api.createHook("app-1", map[string]any{"url": finished.URL() + "/", "events": []string{"build/finished"}})
	hOther := s.api.createHook("app-2", map[string]any{"url": other.URL() + "/", "events": []string{"all"}})
	hDeleted := s.api.createHook("app-1", map[string]any{"url": deleted.URL() + "/", "events": []string{"all"}})
	s.api.do(http.MethodDelete, hookPath("app-1", hDeleted.Slug), nil).expect(t, http.StatusOK)

	s.api.sendBuild("app-1", "build/triggered", buildBody(1))
	s.api.waitItems("app-1", hTriggered.Slug, 1)
	s.api.waitItems("app-1", hAll.Slug, 1)

	// Later events that the other hooks do match: once theirs arrive, the
	// first event's sends have long been decided.
	s.api.sendBuild("app-1", "build/finished", buildBody(2))
	s.api.sendBuild("app-2", "build/triggered", buildBody(3))
	s.api.waitItems("app-1", hFinished.Slug, 1)
	s.api.waitItems("app-2", hOther.Slug, 1)
	s.api.waitItems("app-1", hAll.Slug, 2)

	check := func(name string, rc *testkit.Receiver, wantTypes ...string) {
		t.Helper()
		var got []string
		for _, r := range rc.Requests() {
			got = append(got, r.Header.Get("Bitrise-App-Id")+" "+r.Header.Get("Bitrise-Event-Type"))
		}
		slices.Sort(got)
		if !slices.Equal(got, wantTypes) {
			t.Errorf("%s receiver got %q, want %q", name, got, wantTypes)
		}
	}
	check("build/triggered hook", triggered, "app-1 build/triggered")
	check("all hook", all, "app-1 build/finished", "app-1 build/triggered")
	check("build/finished hook", finished, "app-1 build/finished")
	check("other app's hook", other, "app-2 build/triggered")
	check("deleted hook", deleted)

	for _, c := range []struct {
		app, slug string
		want      int
	}{{"app-1", hTriggered.Slug, 1}, {"app-1", hAll.Slug, 2}, {"app-1", hFinished.Slug, 1}, {"app-2", hOther.Slug, 1}} {
		if l := s.api.listItems(c.app, c.slug, ""); l.Paging.TotalItemCount != c.want || len(l.Data) != c.want {
			t.Errorf("hook %s lists %d items (total %d), want %d", c.slug, len(l.Data), l.Paging.TotalItemCount, c.want)
		}
	}

	// The log holds exactly one attempt per matching (event, hook) pair.
	attempts := map[string]int{}
	r := eventlog.NewReader(s.store, eventlog.Topic, 1)
	for r.Next(context.Background()) {
		if r.Entry().Name() != domain.NameDeliveryAttempted {
			continue
		}
		ev, err := eventlog.DecodeEntry(r.Entry())
		if err != nil {
			t.Fatal(err)
		}
		attempts[ev.(domain.DeliveryAttempted).HookSlug]++
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	want := map[string]int{hTriggered.Slug: 1, hAll.Slug: 2, hFinished.Slug: 1, hOther.Slug: 1}
	if fmt.Sprint(attempts) != fmt.Sprint(want) {
		t.Errorf("attempts in the log = %v, want %v", attempts, want)
	}
}

func TestDeliveryItemsAreListedNewestFirstWithPaging(t *testing.T) {
	s := newStack(t)
	rc := newReceiver(t, http.StatusOK)
	h := s.api.createHook("app-1", map[string]any{"url": rc.URL() + "/", "events": []string{"all"}})
	for i := 1; i <= 5; i++ {
		s.api.sendBuild("app-1", "build/triggered", buildBody(i))
		// One at a time, so the recording order is the sending order.
		s.api.waitItems("app-1", h.Slug, i)
	}

	var numbers []int
	var times []string
	query := "?limit=2"
	for page := 0; ; page++ {
		if page > 3 {
			t.Fatal("more pages than items")
		}
		l := s.api.listItems("app-1", h.Slug, query)
		if l.Paging.TotalItemCount != 5 || l.Paging.PageItemLimit != 2 {
			t.Errorf("page %d paging = %+v", page, l.Paging)
		}
		for _, it := range l.Data {
			var p struct {
				BuildNumber int `json:"build_number"`
			}
			if err := json.Unmarshal([]byte(it.RequestPayload), &p); err != nil {
				t.Fatalf("request_payload %q: %v", it.RequestPayload, err)
			}
			numbers = append(numbers, p.BuildNumber)
			times = append(times, it.CreatedAt)
		}
		if l.Paging.Next == nil {
			if len(l.Data) != 1 {
				t.Errorf("last page has %d items, want 1", len(l.Data))
			}
			break
		}
		if len(l.Data) != 2 {
			t.Errorf("page %d has %d items, want 2", page, len(l.Data))
		}
		query = "?limit=2&next=" + *l.Paging.Next
	}
	if !slices.Equal(numbers, []int{5, 4, 3, 2, 1}) {
		t.Errorf("build numbers over the pages = %v, want newest first [5 4 3 2 1]", numbers)
	}
	for i := 1; i < len(times); i++ {
		if checkTime(t, "created_at", times[i]).After(checkTime(t, "created_at", times[i-1])) {
			t.Errorf("created_at %s listed after the older %s", times[i-1], times[i])
		}
	}

	for _, q := range []string{"?limit=0", "?limit=x", "?next=not-an-anchor"} {
		field := "limit"
		if strings.Contains(q, "next") {
			field = "next"
		}
		s.api.do(http.MethodGet, itemsPath("app-1", h.Slug)+q, nil).expectError(t, http.StatusBadRequest, field)
	}
}

// rawString decodes a raw item field that must be a JSON string.
func rawString(t *testing.T, raw map[string]json.RawMessage, field string) string {
	t.Helper()
	var v string
	if err := json.Unmarshal(raw[field], &v); err != nil {
		t.Fatalf("%s = %s, want a string: %v", field, raw[field], err)
	}
	return v
}

// deliverOnce configures a hook to a receiver that answers with answer,
// sends one build event, and returns the delivery item as raw fields.
func deliverOnce(t *testing.T, s *stack, answer http.HandlerFunc) (hookSlug string, item map[string]json.RawMessage) {
	t.Helper()
	rc := httptest.NewServer(answer)
	t.Cleanup(rc.Close)
	h := s.api.createHook("app-1", map[string]any{"url": rc.URL + "/hook", "events": []string{"all"}})
	s.api.sendBuild("app-1", "build/finished", buildBody(1))
	s.api.waitItems("app-1", h.Slug, 1)
	return h.Slug, s.api.rawItems("app-1", h.Slug)[0]
}

func TestDeliveryWhoseBodyWasCutOffKeepsTheStatusAndIsRedeliveredAsFailed(t *testing.T) {
	s := newStack(t)
	since := time.Now().UTC()
	hook, raw := deliverOnce(t, s, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "100")
		w.Header().Set("X-Receiver", "yes")
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // closes the connection mid-body
	})
	checkItemShape(t, raw, "redelivery_of")
	var status int
	decodeRawField(t, raw["response_http_status"], &status)
	if status != http.StatusOK || rawString(t, raw, "response_body") != "partial" {
		t.Errorf("response_http_status %d, response_body %s; want 200 and the partial body", status, raw["response_body"])
	}
	if h := decodeHeaders(t, "response_headers", rawString(t, raw, "response_headers")); h["X-Receiver"] != "yes" {
		t.Errorf("response_headers = %v, want X-Receiver: yes kept", h)
	}
	const want = "response body cut off: connection closed before the body was complete (kept 7 of 100 bytes)"
	if got := rawString(t, raw, "error"); got != want {
		t.Errorf("error = %q\nwant    %q", got, want)
	}
	// A 200 whose body was cut off failed: it is among the failures sent again.
	if out := s.api.redeliverFailed("app-1", hook, since); out.Data.Requested != 1 {
		t.Errorf("redeliver-failed requested %d, want the cut-off item: %+v", out.Data.Requested, out)
	}
}

func TestDeliveryWithABinaryResponseBodyShowsItAsBase64(t *testing.T) {
	s := newStack(t)
	body := []byte("\x89PNG\r\n\x1a\n\x00\xff binary")
	_, raw := deliverOnce(t, s, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write(body)
	})
	checkItemShape(t, raw, "error", "redelivery_of")
	if enc := rawString(t, raw, "response_body_encoding"); enc != "base64" {
		t.Errorf("response_body_encoding = %q, want base64", enc)
	}
	got, err := base64.StdEncoding.DecodeString(rawString(t, raw, "response_body"))
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("response_body decodes to %q (%v), want exactly the bytes sent %q", got, err, body)
	}
}

func TestDeliveryKeepsAt16KiBOfResponseHeadersAndSaysSo(t *testing.T) {
	s := newStack(t)
	_, raw := deliverOnce(t, s, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for i := range 40 {
			w.Header().Set(fmt.Sprintf("X-H-%02d", i), strings.Repeat("v", 1<<10))
		}
		_, _ = io.WriteString(w, "ok")
	})
	if cut := string(raw["response_headers_truncated"]); cut != "true" {
		t.Errorf("response_headers_truncated = %s, want true", cut)
	}
	h := decodeHeaders(t, "response_headers", rawString(t, raw, "response_headers"))
	size := 0
	for name, v := range h {
		size += len(name) + len(v)
	}
	if size > 16<<10 || len(h) < 10 || h["X-H-39"] != "" {
		t.Errorf("response_headers hold %d headers, %d bytes; want at most 16 KiB, the first by name (without X-H-39)", len(h), size)
	}
}

func TestDeliveryWithResponseHeadersPast64KiBRecordsWhyAndNoResponse(t *testing.T) {
	s := newStack(t)
	_, raw := deliverOnce(t, s, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Big", strings.Repeat("x", 70<<10))
	})
	checkItemShape(t, raw, "response_http_status", "response_headers", "response_body", "response_seconds", "response_ms",
		"redelivery_of", "response_body_encoding")
	if got := rawString(t, raw, "error"); got != "response headers larger than 64 KiB" {
		t.Errorf("error = %q, want it to say the headers were too large", got)
	}
}
