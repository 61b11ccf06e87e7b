package main

// The web page, end to end: the real hookd binary (see e2e_harness_test.go)
// with an API token, driven by a real headless Chromium through chromedp.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/hookd/hookd/internal/testkit"
)

// findChromium returns the path of a Chromium (or Chrome) binary, or "".
func findChromium() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newWebuiReceiver is the kit's recording receiver answering as these
// tests need: the first delivery of build "webui-build-2" to /ci fails
// with a 503 and an HTML page, as a receiver in trouble would answer;
// everything else gets a 200 with a small JSON body.
func newWebuiReceiver(t *testing.T) *testkit.Receiver {
	rc := testkit.NewReceiver(t)
	var failed atomic.Bool
	rc.SetHandler(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if req.URL.Path == "/ci" && bytes.Contains(body, []byte(`"build_slug":"webui-build-2"`)) && failed.CompareAndSwap(false, true) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, busyPage)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true,"received":"`+req.Header.Get("Bitrise-Event-Type")+`"}`)
	})
	return rc
}

const busyPage = `<html><body><h1 id="pwned">503 Service Unavailable</h1>receiver busy, try again later</body></html>`

// bodiesAt is the bodies of the requests rc got at path, in order.
func bodiesAt(rc *testkit.Receiver, path string) [][]byte {
	var out [][]byte
	for _, r := range rc.Requests() {
		if r.Path == path {
			out = append(out, r.Body)
		}
	}
	return out
}

// browserTimeout bounds the whole browser session; each wait is shorter.
const (
	browserTimeout = 60 * time.Second
	pageWait       = 15 * time.Second
)

// TestWebUIBrowserManagesHooksAndRedelivers drives the page the way a person
// would: a wrong token is refused with a clear message, the right one is
// kept for the tab, a hook is created through the form, a click anywhere on
// a hook's card opens it, build events sent through the API show up as rows
// without a reload (live, from the log's stream) with their build number,
// slug, branch and workflow and a time that names its zone, an opened item
// sits beside the list at 1280 px and shows its request and response and
// its log entries (sequence, type, time, hash, as the log has them), the
// failed filter and the build slug search ask the server, Redeliver adds a
// linked item without a reload, a deep link opens its item on a fresh load,
// and the hook can be edited and deleted. It saves screenshots at 1280 and
// 375 px wide.
func TestWebUIBrowserManagesHooksAndRedelivers(t *testing.T) {
	chromium := needChromium(t)
	const token = "webui-e2e-token"
	const app = "webui-app"
	srv := startServer(t, "hookd", t.TempDir(), "HOOKD_API_TOKEN="+token)
	rcv := newWebuiReceiver(t)
	auth := map[string]string{"Authorization": "Bearer " + token}
	hooksPath := "/v0.1/apps/" + app + "/outgoing-webhooks"

	// A second hook, made through the API, so the page lists more than one.
	var other struct {
		Data struct{ Slug string } `json:"data"`
	}
	srv.mustCall(t, http.MethodPost, hooksPath,
		`{"url":"`+rcv.URL()+`/slack","events":["build/finished"],"secret":"other-secret",`+
			`"headers":{"Authorization":"Bearer other-token","X-Channel":"builds"}}`, auth, http.StatusOK, &other)

	page := newBrowser(t, chromium)

	// 1. A wrong token: the API answers 401 and the page says so.
	page.do("open the page", chromedp.Navigate(srv.base+"/"), chromedp.WaitVisible(chromedp.ID("token-input")))
	page.do("enter a wrong token and the app",
		chromedp.SendKeys(chromedp.ID("token-input"), "not-the-token"),
		chromedp.Click(chromedp.ID("token-save")),
		chromedp.SendKeys(chromedp.ID("app-input"), app),
		chromedp.Click(chromedp.ID("app-open")))
	page.waitFor("the 401 message", `!document.getElementById('banner').hidden &&
		document.getElementById('banner-text').textContent.includes('unknown API token') &&
		!document.getElementById('token-form').hidden`)

	// 2. The right token: kept in sessionStorage, and the app's hooks load.
	page.do("enter the right token",
		chromedp.SendKeys(chromedp.ID("token-input"), token),
		chromedp.Click(chromedp.ID("token-save")))
	page.waitFor("the app's hooks, signed in as the bootstrap token", `document.getElementById('banner').hidden &&
		document.querySelectorAll('#hooks-list .hook-card').length === 1 &&
		document.getElementById('me-name')?.textContent === 'bootstrap' &&
		document.getElementById('token-access').textContent.includes('every app') &&
		document.querySelector('#hooks-list .hook-created-by')?.textContent === 'created by bootstrap'`)
	if got := page.evalString(`sessionStorage.getItem('hookd.token')`); got != token {
		t.Fatalf("sessionStorage token = %q, want %q", got, token)
	}
	if got := page.evalString(`location.hash`); !strings.Contains(got, "app="+app) {
		t.Fatalf("location.hash = %q, want it to name the app", got)
	}

	// 3. Create a hook through the form: URL, all events, a header, a secret.
	hookURL := rcv.URL() + "/ci"
	page.do("fill in the new hook form",
		chromedp.Click(chromedp.ID("hook-new")),
		chromedp.WaitVisible(chromedp.ID("hook-url")),
		chromedp.SendKeys(chromedp.ID("hook-url"), hookURL),
		chromedp.Click(chromedp.ID("header-add")),
		chromedp.SendKeys(chromedp.CSS("#header-rows .header-name"), "X-Team"),
		chromedp.SendKeys(chromedp.CSS("#header-rows .header-value"), "mobile"),
		chromedp.SendKeys(chromedp.ID("hook-secret"), "s3cret"),
		chromedp.Click(chromedp.ID("hook-save")))
	page.waitFor("the new hook's card, selected", `!document.getElementById('hook-dialog').open &&
		document.querySelectorAll('#hooks-list .hook-card').length === 2 &&
		document.querySelector('#hooks-list .hook-card.selected') !== null &&
		!document.getElementById('items-panel').hidden`)
	card := page.evalString(`document.querySelector('#hooks-list .hook-card.selected').textContent`)
	for _, want := range []string{hookURL, "all", "has secret", "1 header"} {
		if !strings.Contains(card, want) {
			t.Errorf("hook card %q lacks %q", card, want)
		}
	}
	if strings.Contains(page.evalString(`document.body.innerText`), "s3cret") {
		t.Error("the page shows the secret")
	}
	var hooks struct {
		Data []struct {
			Slug      string            `json:"slug"`
			URL       string            `json:"url"`
			Events    []string          `json:"events"`
			Headers   map[string]string `json:"headers"`
			HasSecret bool              `json:"has_secret"`
		} `json:"data"`
	}
	srv.mustCall(t, http.MethodGet, hooksPath, "", auth, http.StatusOK, &hooks)
	if len(hooks.Data) != 2 {
		t.Fatalf("API lists %d hooks, want 2", len(hooks.Data))
	}
	made := hooks.Data[1]
	if made.URL != hookURL || fmt.Sprint(made.Events) != "[all]" || made.Headers["X-Team"] != "mobile" || !made.HasSecret {
		t.Fatalf("hook made through the form = %+v", made)
	}
	itemsPath := hooksPath + "/" + made.Slug + "/delivery-items"

	// The whole card opens its hook, not only its URL.
	page.do("open the other hook by its card", chromedp.Click(chromedp.CSS("#hooks-list li:first-child .chips")))
	page.waitFor("the other hook, selected", `document.querySelector('#hooks-list li:first-child').classList.contains('selected') &&
		document.getElementById('items-hook-url').textContent.endsWith('/slack') && location.hash.includes('hook=`+other.Data.Slug+`')`)
	page.do("back to the new hook by its card", chromedp.Click(chromedp.CSS("#hooks-list li:nth-child(2) .chips")))
	page.waitFor("the new hook, selected", `document.querySelector('#hooks-list li:nth-child(2)').classList.contains('selected') &&
		document.getElementById('items-hook-url').textContent.endsWith('/ci')`)

	// 4. Build events through the API appear as delivery items on the page.
	sendBuild := func(eventType, slug string, number, status int) {
		body := fmt.Sprintf(`{"build_slug":%q,"build_number":%d,"build_status":%d,"build_triggered_workflow":"deploy",`+
			`"git":{"provider":"github","src_branch":"feature/login","dst_branch":"main","pull_request_id":41}}`, slug, number, status)
		h := map[string]string{"Authorization": "Bearer " + token, "Bitrise-Event-Type": eventType}
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+app+"/build-events", body, h, http.StatusAccepted, nil)
	}
	apiItems := func() itemList {
		var l itemList
		srv.mustCall(t, http.MethodGet, itemsPath, "", auth, http.StatusOK, &l)
		return l
	}
	waitItems := func(n int) itemList {
		var l itemList
		testkit.WaitUntil(t, pageWait, fmt.Sprintf("%d delivery items in the API", n), func() bool {
			l = apiItems()
			return len(l.Data) == n
		})
		return l
	}

	// Live: with the page open and following the log, a build event posted
	// through the API shows up as a row without a reload or a click, with
	// the build's number, slug, branch and workflow, its time in a zone.
	page.evalString(`window.__notReloaded = 'yes'`)
	page.waitFor("the live stream", `document.getElementById('live-state').classList.contains('on')`)
	posted := time.Now()
	sendBuild("build/triggered", "webui-build-1", 1, 0)
	page.waitFor("the first item, live", `document.querySelectorAll('#items-list .item-row').length === 1 &&
		document.querySelector('#items-list .item-row .status.s2')?.textContent === '200'`)
	t.Logf("live: the first row appeared %s after the build event was posted", time.Since(posted).Round(time.Millisecond))
	row := page.evalString(`document.querySelector('#items-list .item-row').textContent`)
	for _, want := range []string{"#1", "build/triggered", "webui-build-1", "feature/login", "deploy"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	if got := page.evalString(`(() => {
		const zone = new Intl.DateTimeFormat(undefined, {timeZoneName: 'short'}).formatToParts(new Date())
			.find((p) => p.type === 'timeZoneName').value;
		const shown = document.querySelector('#items-list .item-row time').textContent;
		return shown.endsWith(' ' + zone) ? 'ok' : shown + ' (zone ' + zone + ')';
	})()`); got != "ok" {
		t.Errorf("the row's time does not name its zone: %s", got)
	}

	posted = time.Now()
	sendBuild("build/finished", "webui-build-2", 2, 1)
	page.waitFor("the failed item on top, live", `document.querySelectorAll('#items-list .item-row').length === 2 &&
		document.querySelector('#items-list .item-row .status').textContent === '503' &&
		document.querySelector('#items-list .item-row .status').classList.contains('s5')`)
	t.Logf("live: the second row appeared %s after the build event was posted", time.Since(posted).Round(time.Millisecond))
	l := waitItems(2)
	failedSlug := l.Data[0].Slug

	// 5. Open the failed item: beside the list at desktop width, with the
	// request and the response, pretty and escaped.
	page.do("open the failed item", chromedp.Click(chromedp.CSS("#items-list li:first-child .item-row")))
	page.waitFor("the item's details", `!document.getElementById('detail').hidden &&
		document.getElementById('req-payload').textContent.includes('webui-build-2')`)
	if got := page.evalString(`(() => {
		const list = document.getElementById('items-list').getBoundingClientRect();
		const panel = document.getElementById('detail').getBoundingClientRect();
		const ok = panel.left >= list.right && panel.top < list.bottom && panel.width > 300;
		return ok ? 'ok' : 'list ' + JSON.stringify(list) + ', panel ' + JSON.stringify(panel);
	})()`); got != "ok" {
		t.Errorf("at 1280 px the opened item is not beside the list: %s", got)
	}
	if got := page.evalString(`location.hash`); !strings.Contains(got, "item="+failedSlug) {
		t.Errorf("location.hash = %q, want it to name the item %s", got, failedSlug)
	}
	payload := page.evalString(`document.getElementById('req-payload').textContent`)
	for _, want := range []string{"{\n  \"build_slug\": \"webui-build-2\",", "\"build_number\": 2,", "\"git\": {\n    \"provider\": \"github\""} {
		if !strings.Contains(payload, want) {
			t.Errorf("payload on the page lacks %q:\n%s", want, payload)
		}
	}
	if !json.Valid([]byte(payload)) {
		t.Errorf("pretty payload is not JSON:\n%s", payload)
	}
	reqHeaders := page.evalString(`document.getElementById('req-headers').textContent`)
	for _, want := range []string{"Bitrise-Event-Type", "build/finished", "X-Team", "mobile", "Bitrise-Hook-Signature"} {
		if !strings.Contains(reqHeaders, want) {
			t.Errorf("request headers on the page lack %q: %s", want, reqHeaders)
		}
	}
	if got := page.evalString(`document.getElementById('resp-body').textContent`); got != busyPage {
		t.Errorf("response body on the page = %q, want the receiver's HTML as text", got)
	}
	if page.evalString(`String(document.getElementById('pwned'))`) != "null" {
		t.Error("the receiver's HTML was parsed into the page")
	}
	if got := page.evalString(`document.getElementById('resp-headers').textContent`); !strings.Contains(got, "Retry-After") {
		t.Errorf("response headers on the page lack Retry-After: %s", got)
	}

	// The item's log view: the entries it was made of, as the log has them.
	var logged struct {
		Data struct {
			BuildEventSequence uint64 `json:"build_event_sequence"`
			RequestSequence    uint64 `json:"request_sequence"`
			AttemptSequence    uint64 `json:"attempt_sequence"`
		} `json:"data"`
	}
	srv.mustCall(t, http.MethodGet, itemsPath+"/"+failedSlug, "", auth, http.StatusOK, &logged)
	page.do("show the item's log entries", chromedp.Click(chromedp.ID("tab-log")))
	page.waitFor("three log entries", `document.querySelectorAll('#log-entries tbody tr').length === 3 &&
		[...document.querySelectorAll('#log-entries tbody td.log-hash')].every((td) => td.title.length === 64)`)
	for i, want := range []struct {
		seq uint64
		typ string
	}{
		{logged.Data.BuildEventSequence, "build_event.received.v1"},
		{logged.Data.RequestSequence, "delivery.requested.v1"},
		{logged.Data.AttemptSequence, "delivery.attempted.v1"},
	} {
		_, line := srv.call(t, http.MethodGet, fmt.Sprintf("/v0.1/log/entries?from=%d&to=%d", want.seq, want.seq), "", auth)
		var entry struct{ Hash string }
		if err := json.Unmarshal(line, &entry); err != nil || want.seq == 0 {
			t.Fatalf("log entry %d: %v (%s)", want.seq, err, line)
		}
		got := page.evalString(fmt.Sprintf(`(() => {
			const tr = document.querySelectorAll('#log-entries tbody tr')[%d];
			return [...tr.cells].map((c) => c.textContent).join(' | ') + ' | ' + tr.cells[3].title;
		})()`, i))
		for _, part := range []string{fmt.Sprint(want.seq) + " | ", want.typ, entry.Hash[:16] + "…", " | " + entry.Hash} {
			if !strings.Contains(got, part) {
				t.Errorf("log row %d %q lacks %q", i, got, part)
			}
		}
	}
	page.do("back to the request and response", chromedp.Click(chromedp.ID("tab-exchange")))
	page.waitFor("the exchange view", `!document.getElementById('view-exchange').hidden && document.getElementById('view-log').hidden`)

	// 6. Filters, applied by the server: only failed, then a build slug.
	sentQuery := func(part string) string {
		return page.evalString(fmt.Sprintf(`String(performance.getEntriesByType('resource')
			.some((e) => e.name.includes('/delivery-items?') && e.name.includes(%q)))`, part))
	}
	page.do("filter to failed items", chromedp.Click(chromedp.ID("filter-failed")))
	page.waitFor("one failed item", `document.querySelectorAll('#items-list .item-row').length === 1 &&
		document.querySelector('#items-list .item-row .status').textContent === '503' &&
		!document.getElementById('filter-note').hidden`)
	if sentQuery("status=failed") != "true" {
		t.Error("the failed filter did not ask the server for ?status=failed")
	}
	page.do("show every item", chromedp.Click(chromedp.ID("filter-failed")))
	page.waitFor("both items", `document.querySelectorAll('#items-list .item-row').length === 2`)
	page.do("search for a build slug",
		chromedp.SendKeys(chromedp.ID("filter-build"), "webui-build-1"),
		chromedp.Click(chromedp.ID("filter-find")))
	page.waitFor("the build's one item", `document.querySelectorAll('#items-list .item-row').length === 1 &&
		document.querySelector('#items-list .item-row .item-build-slug').textContent.endsWith('webui-build-1') &&
		document.getElementById('filter-note').textContent.includes('webui-build-1')`)
	if sentQuery("build_slug=webui-build-1") != "true" {
		t.Error("the slug search did not ask the server for ?build_slug=webui-build-1")
	}
	page.evalString(`(document.getElementById('filter-build').value = '', '')`)
	page.do("clear the search", chromedp.Click(chromedp.ID("filter-find")))
	page.waitFor("both items again", `document.querySelectorAll('#items-list .item-row').length === 2 &&
		document.getElementById('filter-note').hidden && !document.getElementById('detail').hidden`)

	// 7. Redeliver: the new item appears on top without a reload, linked.
	page.do("press Redeliver", chromedp.Click(chromedp.ID("redeliver")))
	page.waitFor("the redelivered item", `document.querySelectorAll('#items-list .item-row').length === 3 &&
		(document.querySelector('#items-list .item-row .marker')?.textContent || '').startsWith('redelivery of ') &&
		document.getElementById('redeliver-status').textContent.startsWith('Redelivered as item')`)
	if page.evalString(`window.__notReloaded`) != "yes" {
		t.Error("the page reloaded")
	}
	l = apiItems()
	if len(l.Data) != 3 || l.Data[0].RedeliveryOf == nil || *l.Data[0].RedeliveryOf != failedSlug {
		t.Fatalf("after Redeliver the API has %+v, want a third item redelivering %s", l.Data, failedSlug)
	}
	if ci := bodiesAt(rcv, "/ci"); len(ci) != 3 || !bytes.Equal(ci[2], ci[1]) {
		t.Fatalf("receiver /ci got %d requests, want 3 with the last two alike", len(ci))
	}
	if got := page.evalString(`document.querySelector('#items-list .item-row .marker').textContent`); !strings.Contains(got, failedSlug[:8]) {
		t.Errorf("redelivery marker %q does not name %s", got, failedSlug)
	}
	if got := page.evalString(`document.querySelector('#items-list .item-row .item-requested-by')?.textContent ?? ''`); got != "requested by bootstrap" {
		t.Errorf("the redelivery's row says %q, want \"requested by bootstrap\"", got)
	}

	// 8. A deep link: a fresh load of the page at an item's link opens that
	// item beside its hook's list (the token is still the tab's); then the
	// pictures, of the redelivery opened so.
	if got := page.evalString(`document.getElementById('detail-link').getAttribute('href')`); got != "#app="+app+"&hook="+made.Slug+"&item="+failedSlug {
		t.Errorf("the open item's link is %q", got)
	}
	redelivery := l.Data[0].Slug
	page.do("open the redelivery's link in a fresh page", chromedp.Navigate("about:blank"),
		chromedp.Navigate(srv.base+"/#app="+app+"&hook="+made.Slug+"&item="+redelivery),
		chromedp.WaitVisible(chromedp.ID("detail")))
	page.waitFor("the redelivery's details and both hooks' last statuses", fmt.Sprintf(`
		window.__notReloaded === undefined &&
		document.getElementById('detail-title').textContent === 'Delivery %s' &&
		document.getElementById('detail-facts').textContent.includes('Redelivery of') &&
		document.querySelector('#items-list .item-row[aria-current="true"]')?.dataset.slug === %q &&
		document.querySelectorAll('#hooks-list .last .status').length === 2 &&
		document.getElementById('live-state').classList.contains('on')`, redelivery, redelivery))
	page.evalString(`(window.scrollTo(0, 0), '')`)
	page.do("move the mouse off the buttons", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 1, 1))
	shots := t.TempDir()
	wide := page.screenshot("1280 px", 1280, 900, filepath.Join(shots, "webui-1280.png"))
	page.screenshot("375 px", 375, 812, filepath.Join(shots, "webui-375.png"))
	if overflow := page.evalString(`String(document.documentElement.scrollWidth - window.innerWidth)`); overflow != "0" {
		t.Errorf("at 375 px the page scrolls sideways by %s px; widest elements: %s", overflow, page.evalString(
			`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
				.slice(-5).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className).join(', ')`))
	}
	if dir := os.Getenv("HOOKD_SCREENSHOT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "webui.png"), wide, 0o644); err != nil {
			t.Errorf("copy screenshot to HOOKD_SCREENSHOT_DIR: %v", err)
		} else {
			t.Logf("screenshot copied to %s", filepath.Join(dir, "webui.png"))
		}
	}
	page.do("back to 1280 px", chromedp.EmulateViewport(1280, 900))

	// 9. Edit the other hook: the form shows what it has, its Authorization
	// value as hidden (not as the word REDACTED); the secret and that
	// value stay, and the receiver still gets the real one.
	page.do("edit the other hook",
		chromedp.Click(chromedp.CSS(`#hooks-list li:first-child button[aria-label^="Edit"]`)),
		chromedp.WaitVisible(chromedp.ID("hook-url")))
	page.waitFor("the edit form", `document.getElementById('hook-url').value.endsWith('/slack') &&
		document.querySelector('#hook-form input[value="build/finished"]').checked &&
		!document.getElementById('secret-remove-label').hidden &&
		document.getElementById('hook-secret').value === '' &&
		!document.getElementById('headers-hint').hidden &&
		[...document.querySelectorAll('#header-rows .header-row')].map(r =>
			r.querySelector('.header-name').value + '=' + r.querySelector('.header-value').value +
			(r.querySelector('.header-value').placeholder.includes('hidden') ? ' (hidden)' : '')).sort().join(', ') ===
			'Authorization= (hidden), X-Channel=builds'`)
	page.do("switch it to build/triggered",
		chromedp.Click(chromedp.CSS(`#hook-form input[value="build/finished"]`)),
		chromedp.Click(chromedp.CSS(`#hook-form input[value="build/triggered"]`)),
		chromedp.Click(chromedp.ID("hook-save")))
	page.waitFor("the edited card", `!document.getElementById('hook-dialog').open &&
		document.querySelector('#hooks-list li:first-child .chips').textContent.startsWith('build/triggered')`)
	var edited struct {
		Data struct {
			Events        []string          `json:"events"`
			Headers       map[string]string `json:"headers"`
			MaskedHeaders []string          `json:"masked_headers"`
			HasSecret     bool              `json:"has_secret"`
		} `json:"data"`
	}
	srv.mustCall(t, http.MethodGet, hooksPath+"/"+other.Data.Slug, "", auth, http.StatusOK, &edited)
	if fmt.Sprint(edited.Data.Events) != "[build/triggered]" || !edited.Data.HasSecret ||
		fmt.Sprint(edited.Data.Headers) != "map[Authorization:REDACTED X-Channel:builds]" ||
		fmt.Sprint(edited.Data.MaskedHeaders) != "[Authorization]" {
		t.Fatalf("edited hook = %+v, want events [build/triggered], its secret kept and Authorization masked", edited.Data)
	}
	sendBuild("build/triggered", "build-after-edit", 9, 0)
	var triggered []testkit.Request
	testkit.WaitUntil(t, pageWait, "a build/triggered delivery to the edited hook", func() bool {
		triggered = triggered[:0]
		for _, r := range rcv.Requests() {
			if r.Path == "/slack" && r.Header.Get("Bitrise-Event-Type") == "build/triggered" {
				triggered = append(triggered, r)
			}
		}
		return len(triggered) > 0
	})
	if got := triggered[0].Header.Get("Authorization"); got != "Bearer other-token" {
		t.Errorf("after the edit the receiver got Authorization %q, want the stored value kept", got)
	}

	// 10. Delete it, after confirming.
	page.do("delete the other hook",
		chromedp.Click(chromedp.CSS(`#hooks-list li:first-child button[aria-label^="Delete"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-ok")),
		chromedp.Click(chromedp.ID("confirm-ok")))
	page.waitFor("one hook left", `document.querySelectorAll('#hooks-list .hook-card').length === 1`)
	if status, body := srv.call(t, http.MethodGet, hooksPath+"/"+other.Data.Slug, "", auth); status != http.StatusNotFound {
		t.Fatalf("deleted hook: GET answered %d %s, want 404", status, body)
	}

	page.finish()
}

// needChromium returns the path of a Chromium binary, or skips t.
func needChromium(t *testing.T) string {
	t.Helper()
	chromium := findChromium()
	if chromium == "" {
		t.Skip("browser test skipped: no Chromium at /usr/bin/chromium or on PATH " +
			"(install Debian's chromium package: apt-get install -y chromium; .ci/run does this)")
	}
	return chromium
}

// newBrowser starts a headless Chromium at 1280x900 and returns its one
// tab. It records the console; if t fails, the page's text and the console
// are logged. finish stops the browser and checks the console.
func newBrowser(t *testing.T, chromium string) *browserPage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	browserOut := &testkit.SyncBuffer{}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium-profile")),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(browserOut),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)

	started := time.Now()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium (%s): %v\n%s", chromium, err, browserOut.String())
	}
	t.Logf("Chromium started in %s", time.Since(started).Round(time.Millisecond))

	// Everything the page writes to the console, to check for exceptions
	// and Content-Security-Policy violations at the end.
	p := &browserPage{t: t, ctx: bctx, cancel: cancelBrowser, started: started, consoleDone: make(chan struct{})}
	messages := chromedp.Console(bctx)
	go func() {
		defer close(p.consoleDone)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.consoleMu.Lock()
			p.console = append(p.console, m)
			p.consoleMu.Unlock()
		}
	}()
	// Registered last, so it runs before the browser stops.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("page text at failure:\n%s", p.tryEvalString(`document.body.innerText`))
			p.consoleMu.Lock()
			for _, m := range p.console {
				t.Logf("console %s (%s): %s", m.Type, m.Source, m.Text)
			}
			p.consoleMu.Unlock()
		}
	})
	return p
}

// finish stops the browser and fails the test on any exception or
// Content-Security-Policy violation the console saw.
func (p *browserPage) finish() {
	p.t.Helper()
	p.cancel()
	<-p.consoleDone
	p.consoleMu.Lock()
	defer p.consoleMu.Unlock()
	for _, m := range p.console {
		if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
			p.t.Errorf("browser console: %s (%s): %s", m.Type, m.Source, m.Text)
		}
	}
	p.t.Logf("browser session took %s", time.Since(p.started).Round(time.Millisecond))
}

// browserPage runs actions on one tab and fails the test with what it was doing.
type browserPage struct {
	t       *testing.T
	ctx     context.Context
	cancel  context.CancelFunc
	started time.Time

	consoleMu   sync.Mutex
	console     []chromedp.ConsoleMessage
	consoleDone chan struct{}
}

func (p *browserPage) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, pageWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// waitFor polls a JavaScript expression until it is truthy.
func (p *browserPage) waitFor(what, expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, pageWait)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(pageWait)))
	if err != nil {
		p.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// evalString evaluates a JavaScript expression that gives a string (or null).
func (p *browserPage) evalString(expr string) string {
	p.t.Helper()
	v, err := p.eval(expr)
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// tryEvalString is evalString for failure reports: it never stops the test.
func (p *browserPage) tryEvalString(expr string) string {
	v, err := p.eval(expr)
	if err != nil {
		return fmt.Sprintf("(cannot evaluate: %v)", err)
	}
	return v
}

func (p *browserPage) eval(expr string) (string, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[*string](expr))
	if err != nil || v == nil {
		return "", err
	}
	return *v, nil
}

// screenshot sets the viewport and saves a full-page PNG.
func (p *browserPage) screenshot(what string, width, height int64, path string) []byte {
	p.t.Helper()
	p.do("resize to "+what, chromedp.EmulateViewport(width, height))
	p.waitFor("layout at "+what, fmt.Sprintf(`window.innerWidth === %d`, width))
	ctx, cancel := context.WithTimeout(p.ctx, pageWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot at %s: %v", what, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot at %s: %s (%d bytes)", what, path, len(png))
	return png
}
