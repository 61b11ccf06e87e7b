package main

// End-to-end tests: they run the real hookd binary (see e2e_harness_test.go)
// on a temporary data directory and talk to it over HTTP the way a user and
// a CI system would, with a real local receiver.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
)

func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// deliveryItem is a delivery item as the API returns it.
type deliveryItem struct {
	Slug               string  `json:"slug"`
	EventType          string  `json:"event_type"`
	RequestURL         string  `json:"request_url"`
	RequestHeaders     string  `json:"request_headers"`
	RequestPayload     string  `json:"request_payload"`
	ResponseHTTPStatus *int    `json:"response_http_status"`
	ResponseHeaders    *string `json:"response_headers"`
	ResponseBody       *string `json:"response_body"`
	Error              *string `json:"error"`
	RedeliveryOf       *string `json:"redelivery_of"`
}

type itemList struct {
	Data   []deliveryItem `json:"data"`
	Paging struct {
		TotalItemCount int    `json:"total_item_count"`
		Next           string `json:"next"`
	} `json:"paging"`
}

// view is everything a user can read about the hook, as decoded JSON.
type view struct {
	Hook  any            // GET hook
	Hooks any            // GET hooks of the app
	Items any            // GET delivery items
	Each  map[string]any // GET each delivery item, by slug
}

func readView(t *testing.T, s *server, hookPath string, itemSlugs []string) view {
	t.Helper()
	v := view{Each: map[string]any{}}
	s.mustCall(t, http.MethodGet, hookPath, "", nil, http.StatusOK, &v.Hook)
	s.mustCall(t, http.MethodGet, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks", "", nil, http.StatusOK, &v.Hooks)
	s.mustCall(t, http.MethodGet, hookPath+"/delivery-items", "", nil, http.StatusOK, &v.Items)
	for _, slug := range itemSlugs {
		var item any
		s.mustCall(t, http.MethodGet, hookPath+"/delivery-items/"+slug, "", nil, http.StatusOK, &item)
		v.Each[slug] = item
	}
	return v
}

func requireSameView(t *testing.T, when string, want, got view) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		w, _ := json.MarshalIndent(want, "", "  ")
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("%s: views differ\nbefore: %s\nnow:    %s", when, w, g)
	}
}

const (
	e2eApp    = "app-e2e"
	e2eSecret = "e2e-secret"
	// The seed document's build/finished example, made valid JSON, for a
	// pull request build (no tag). Spacing and app_slug as a client might send.
	buildFinishedInput = `{
  "build_slug": "1234abcd",
  "build_number": 3,
  "app_slug": "app-e2e",
  "build_status": 1,
  "build_triggered_workflow": "deploy",
  "git": {
    "provider": "github",
    "src_branch": "feature/branch",
    "dst_branch": "master",
    "pull_request_id": 32
  }
}`
	// What the receiver must get, byte for byte.
	buildFinishedBody = `{"build_slug":"1234abcd","build_number":3,"app_slug":"app-e2e","build_status":1,` +
		`"build_triggered_workflow":"deploy","git":{"provider":"github","src_branch":"feature/branch",` +
		`"dst_branch":"master","pull_request_id":32}}`
)

// checkDelivery checks one received request against what hookd must send.
func checkDelivery(t *testing.T, i int, got testkit.Request, wantPath string) {
	t.Helper()
	if got.Method != http.MethodPost || got.Path != wantPath {
		t.Errorf("request %d: %s %s, want POST %s", i, got.Method, got.Path, wantPath)
	}
	wantHeaders := map[string]string{
		"Content-Type":           "application/json",
		"Bitrise-Event-Type":     "build/finished",
		"Bitrise-App-Id":         e2eApp,
		"X-Team":                 "ci",
		"Bitrise-Hook-Signature": sign(e2eSecret, buildFinishedBody),
	}
	for name, want := range wantHeaders {
		if vals := got.Header.Values(name); len(vals) != 1 || vals[0] != want {
			t.Errorf("request %d: header %s = %q, want exactly [%q]", i, name, vals, want)
		}
	}
	if string(got.Body) != buildFinishedBody {
		t.Errorf("request %d: body\n got %s\nwant %s", i, got.Body, buildFinishedBody)
	}
}

// checkItem checks a delivery item's request and response against the
// receiver's exchange.
func checkItem(t *testing.T, item deliveryItem, raw map[string]any, hookURL string) {
	t.Helper()
	if item.EventType != "build/finished" {
		t.Errorf("item %s: event_type %q", item.Slug, item.EventType)
	}
	if item.RequestURL != hookURL {
		t.Errorf("item %s: request_url %q, want %q", item.Slug, item.RequestURL, hookURL)
	}
	var reqHeaders map[string]string
	if err := json.Unmarshal([]byte(item.RequestHeaders), &reqHeaders); err != nil {
		t.Errorf("item %s: request_headers %q is not a JSON object of strings: %v", item.Slug, item.RequestHeaders, err)
	}
	if got, want := reqHeaders["Bitrise-Hook-Signature"], sign(e2eSecret, buildFinishedBody); got != want {
		t.Errorf("item %s: request_headers signature %q, want %q (headers %s)", item.Slug, got, want, item.RequestHeaders)
	}
	if reqHeaders["X-Team"] != "ci" || reqHeaders["Bitrise-App-Id"] != e2eApp {
		t.Errorf("item %s: request_headers %s lack X-Team or Bitrise-App-Id", item.Slug, item.RequestHeaders)
	}
	if item.RequestPayload != buildFinishedBody {
		t.Errorf("item %s: request_payload\n got %s\nwant %s", item.Slug, item.RequestPayload, buildFinishedBody)
	}
	if item.ResponseHTTPStatus == nil || *item.ResponseHTTPStatus != http.StatusOK {
		t.Errorf("item %s: response_http_status %v, want 200", item.Slug, item.ResponseHTTPStatus)
	}
	if item.ResponseBody == nil || *item.ResponseBody != receiverBody {
		t.Errorf("item %s: response_body %v, want %q", item.Slug, item.ResponseBody, receiverBody)
	}
	if item.ResponseHeaders == nil {
		t.Errorf("item %s: response_headers is null", item.Slug)
	} else {
		var h map[string]string
		if err := json.Unmarshal([]byte(*item.ResponseHeaders), &h); err != nil {
			t.Errorf("item %s: response_headers %q is not a JSON object of strings: %v", item.Slug, *item.ResponseHeaders, err)
		} else if h[receiverHeader] != receiverValue {
			t.Errorf("item %s: response_headers %s, want %s: %s", item.Slug, *item.ResponseHeaders, receiverHeader, receiverValue)
		}
	}
	if v, ok := raw["error"]; !ok || v != nil {
		t.Errorf("item %s: error = %v (present %v), want null", item.Slug, v, ok)
	}
}

// listItems returns the delivery items, typed and raw.
func listItems(t *testing.T, s *server, hookPath string) (itemList, []map[string]any) {
	t.Helper()
	var list itemList
	b := s.mustCall(t, http.MethodGet, hookPath+"/delivery-items", "", nil, http.StatusOK, &list)
	var raw struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	return list, raw.Data
}

func TestEndToEndConfigureDeliverRedeliverRestartRebuild(t *testing.T) {
	data := t.TempDir()
	recv := newReceiver(t)
	srv := startServer(t, "server 1", data)

	// 1. Configure a hook.
	hookURL := recv.URL() + "/hooks/ci"
	var created struct {
		Data struct {
			Slug      string            `json:"slug"`
			URL       string            `json:"url"`
			Events    []string          `json:"events"`
			Headers   map[string]string `json:"headers"`
			HasSecret bool              `json:"has_secret"`
		} `json:"data"`
	}
	hookBody := fmt.Sprintf(`{"url":%q,"events":["build/triggered","build/finished"],"headers":{"X-Team":"ci"},"secret":%q}`,
		hookURL, e2eSecret)
	b := srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks", hookBody, nil, http.StatusOK, &created)
	hook := created.Data
	if hook.Slug == "" || hook.URL != hookURL || !reflect.DeepEqual(hook.Events, []string{"build/triggered", "build/finished"}) ||
		!reflect.DeepEqual(hook.Headers, map[string]string{"X-Team": "ci"}) {
		t.Fatalf("created hook: %s", b)
	}
	if bytes.Contains(b, []byte(e2eSecret)) {
		t.Fatalf("the hook's secret is returned: %s", b)
	}
	hookPath := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks/" + hook.Slug

	// 2. A build event.
	var accepted struct {
		Data struct {
			EventID  string `json:"event_id"`
			Sequence uint64 `json:"sequence"`
		} `json:"data"`
	}
	b = srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput,
		map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, &accepted)
	if accepted.Data.EventID == "" || accepted.Data.Sequence == 0 {
		t.Fatalf("build event accepted: %s", b)
	}

	// 3. The receiver gets exactly one POST, with exact headers and body.
	got := recv.WaitForCount(t, 1, pollTimeout)
	checkDelivery(t, 0, got[0], "/hooks/ci")

	// 4. The delivery item is listed with request and response.
	var list itemList
	var raw []map[string]any
	testkit.WaitUntil(t, pollTimeout, "the delivery item to be listed", func() bool {
		list, raw = listItems(t, srv, hookPath)
		return len(list.Data) >= 1
	})
	if len(list.Data) != 1 || list.Paging.TotalItemCount != 1 {
		t.Fatalf("want 1 delivery item, got %d (total %d)", len(list.Data), list.Paging.TotalItemCount)
	}
	original := list.Data[0]
	checkItem(t, original, raw[0], hookURL)
	if original.RequestPayload != string(got[0].Body) {
		t.Errorf("request_payload differs from the body the receiver got")
	}
	if original.RedeliveryOf != nil {
		t.Errorf("original item: redelivery_of %q, want null", *original.RedeliveryOf)
	}
	if t.Failed() {
		t.FailNow()
	}

	// 5. Redeliver: a second identical POST and a new item linked to the original.
	var redeliver struct {
		Message string `json:"message"`
		Data    struct {
			Slug string `json:"slug"`
		} `json:"data"`
	}
	b = srv.mustCall(t, http.MethodPost, hookPath+"/delivery-items/"+original.Slug+"/redeliver", "", nil, http.StatusOK, &redeliver)
	if redeliver.Data.Slug == "" || redeliver.Data.Slug == original.Slug {
		t.Fatalf("redeliver: %s", b)
	}
	got = recv.WaitForCount(t, 2, pollTimeout)
	checkDelivery(t, 1, got[1], "/hooks/ci")
	testkit.WaitUntil(t, pollTimeout, "the redelivered item to be listed", func() bool {
		list, raw = listItems(t, srv, hookPath)
		return len(list.Data) >= 2
	})
	if len(list.Data) != 2 || list.Paging.TotalItemCount != 2 {
		t.Fatalf("want 2 delivery items, got %d (total %d)", len(list.Data), list.Paging.TotalItemCount)
	}
	newest := list.Data[0]
	if newest.Slug != redeliver.Data.Slug || list.Data[1].Slug != original.Slug {
		t.Fatalf("items %s, %s; want newest first: %s, %s", newest.Slug, list.Data[1].Slug, redeliver.Data.Slug, original.Slug)
	}
	if newest.RedeliveryOf == nil || *newest.RedeliveryOf != original.Slug {
		t.Errorf("redelivered item: redelivery_of %v, want %q", newest.RedeliveryOf, original.Slug)
	}
	checkItem(t, newest, raw[0], hookURL)
	if t.Failed() {
		t.FailNow()
	}
	itemSlugs := []string{original.Slug, newest.Slug}
	before := readView(t, srv, hookPath, itemSlugs)

	// 6. Stop the process.
	srv.stop(t)

	// 7. A new process on the same data: everything is still there and
	// nothing is sent again.
	srv = startServer(t, "server 2 (after restart)", data)
	recv.StaysAt(t, 2, time.Second)
	requireSameView(t, "after restart", before, readView(t, srv, hookPath, itemSlugs))

	// 8. Stop, rebuild the views from the log, start again: same views.
	srv.stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rebuild := exec.CommandContext(ctx, hookdBin, "rebuild", "--data", data)
	rebuild.Env = childEnv()
	var stdout, stderr bytes.Buffer
	rebuild.Stdout, rebuild.Stderr = &stdout, &stderr
	if err := rebuild.Run(); err != nil {
		t.Fatalf("hookd rebuild: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	if !strings.Contains(stdout.String(), "done") {
		t.Fatalf("hookd rebuild stdout does not say done:\n%s\nstderr: %s", &stdout, &stderr)
	}
	srv = startServer(t, "server 3 (after rebuild)", data)
	requireSameView(t, "after rebuild", before, readView(t, srv, hookPath, itemSlugs))
	recv.StaysAt(t, 2, 200*time.Millisecond)

	// The rebuilt views keep following the log: a new event is delivered
	// and listed on top of the two old items.
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput,
		map[string]string{"Bitrise-Event-Type": "build/triggered"}, http.StatusAccepted, nil)
	got = recv.WaitForCount(t, 3, pollTimeout)
	if et := got[2].Header.Get("Bitrise-Event-Type"); et != "build/triggered" || string(got[2].Body) != buildFinishedBody {
		t.Fatalf("after rebuild: event type %q, body %s", et, got[2].Body)
	}
	testkit.WaitUntil(t, pollTimeout, "the new item to be listed after rebuild", func() bool {
		list, _ = listItems(t, srv, hookPath)
		return len(list.Data) >= 3
	})
	if len(list.Data) != 3 || list.Data[0].EventType != "build/triggered" ||
		list.Data[1].Slug != newest.Slug || list.Data[2].Slug != original.Slug {
		t.Fatalf("after rebuild and a new event: items %+v", list.Data)
	}

	// 9. Stop.
	srv.stop(t)
}

func TestServeRefusesNonLoopbackWithoutToken(t *testing.T) {
	code, out := runHookd(t, 10*time.Second, nil, "serve", "--addr", "0.0.0.0:0", "--data", t.TempDir())
	if code == 0 {
		t.Fatalf("serve on 0.0.0.0 without a token exited 0; output:\n%s", out)
	}
	if !strings.Contains(out, "--api-token") {
		t.Fatalf("the refusal does not mention --api-token:\n%s", out)
	}
	if strings.Contains(out, "hookd listening") {
		t.Fatalf("it listened before refusing:\n%s", out)
	}
}

func TestServeRequiresTokenWhenSet(t *testing.T) {
	srv := startServer(t, "server with token", t.TempDir(), "HOOKD_API_TOKEN=secret-token")
	const path = "/v0.1/apps/" + e2eApp + "/outgoing-webhooks"

	for _, auth := range []string{"", "Bearer wrong-token", "secret-token-but-longer"} {
		var hdr map[string]string
		if auth != "" {
			hdr = map[string]string{"Authorization": auth}
		}
		var e struct {
			Message *string `json:"message"`
		}
		b := srv.mustCall(t, http.MethodGet, path, "", hdr, http.StatusUnauthorized, &e)
		if e.Message == nil || *e.Message == "" {
			t.Errorf("Authorization %q: 401 body %s has no message", auth, b)
		}
	}
	var list struct {
		Data []any `json:"data"`
	}
	srv.mustCall(t, http.MethodGet, path, "", map[string]string{"Authorization": "Bearer secret-token"}, http.StatusOK, &list)
	if list.Data == nil {
		t.Errorf("authorised list has no data array")
	}
	srv.stop(t)
}

func TestSecondProcessOnSameDataDirFailsClearly(t *testing.T) {
	data := t.TempDir()
	first := startServer(t, "first server", data)

	code, out := runHookd(t, 10*time.Second, nil, "serve", "--addr", "127.0.0.1:0", "--data", data,
		"--allow-private-targets", "--log-format", "json")
	if code == 0 {
		t.Fatalf("a second serve on the same data exited 0; output:\n%s", out)
	}
	if !strings.Contains(out, "in use") {
		t.Fatalf("the second serve does not say the directory is in use:\n%s", out)
	}

	// The first one is unharmed.
	first.mustCall(t, http.MethodGet, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks", "", nil, http.StatusOK, nil)
	first.stop(t)
}
