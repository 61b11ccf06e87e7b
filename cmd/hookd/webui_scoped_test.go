package main

// The web page with scoped API tokens: the real binary, started with a
// bootstrap token that issues the others, and a real headless Chromium.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hookd/hookd/internal/testkit"
)

// TestWebUIScopedTokensSeeOnlyWhatTheyMay signs in to the page with issued
// tokens. An apps:write token for one app: the page names it, its scope and
// expiry, opens its one app without asking, and lets it create a hook
// (shown as created by it), see the hook's delivery items and redeliver
// (shown as requested by it). An apps:read token for two apps chooses among
// them and sees no create, edit, delete or redeliver controls, and a
// Redeliver button forced back into view gets the server's 403 as its
// message. A revoked token is refused with the server's 401 message, and an
// ingest-only token is told what it can do instead of failing requests.
func TestWebUIScopedTokensSeeOnlyWhatTheyMay(t *testing.T) {
	chromium := needChromium(t)
	const bootstrap = "webui-bootstrap-token"
	const app = "scoped-app"
	srv := startServer(t, "hookd", t.TempDir(), "HOOKD_API_TOKEN="+bootstrap)
	rcv := newWebuiReceiver(t)
	asAdmin := map[string]string{"Authorization": "Bearer " + bootstrap}
	issue := func(body string) (id, token string) {
		t.Helper()
		var out struct {
			Data struct {
				ID    string `json:"id"`
				Token string `json:"token"`
			} `json:"data"`
		}
		srv.mustCall(t, http.MethodPost, "/v0.1/admin/tokens", body, asAdmin, http.StatusOK, &out)
		if !strings.HasPrefix(out.Data.Token, "hkd_") || out.Data.ID == "" {
			t.Fatalf("issued token %+v", out.Data)
		}
		return out.Data.ID, out.Data.Token
	}
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	writerID, writer := issue(`{"name":"ci","scopes":["apps:write"],"apps":["` + app + `"],"expires_at":"` + expires + `"}`)
	_, reader := issue(`{"name":"alice","scopes":["apps:read"],"apps":["other-app","` + app + `"]}`)
	_, ingester := issue(`{"name":"builder","scopes":["ingest"],"apps":["` + app + `"]}`)
	asWriter := map[string]string{"Authorization": "Bearer " + writer}
	hooksPath := "/v0.1/apps/" + app + "/outgoing-webhooks"

	page := newBrowser(t, chromium)

	// 1. The apps:write token: named, with its scope and expiry; its one
	// app is chosen for it, and it may create hooks; the log is not its.
	page.do("open the page", chromedp.Navigate(srv.base+"/"), chromedp.WaitVisible(chromedp.ID("token-input")))
	page.do("sign in with the apps:write token",
		chromedp.SendKeys(chromedp.ID("token-input"), writer),
		chromedp.Click(chromedp.ID("token-save")))
	page.waitFor("signed in as ci, its one app opened", `document.getElementById('me-name')?.textContent === 'ci' &&
		document.getElementById('token-form').hidden &&
		document.getElementById('token-access').textContent.includes('apps:write') &&
		document.getElementById('token-access').textContent.includes('app `+app+`') &&
		document.querySelector('#token-access time')?.getAttribute('datetime') === '`+expires+`' &&
		document.getElementById('token-access').textContent.includes('expires') &&
		!document.getElementById('app-select').hidden && document.getElementById('app-input').hidden &&
		document.getElementById('app-select').value === '`+app+`' &&
		!document.getElementById('workspace').hidden &&
		document.getElementById('app-name').textContent === '`+app+`' &&
		document.getElementById('live-state-text').textContent === 'Refreshes every 5 s'`)
	page.waitFor("the write controls, and no log tab", `!document.getElementById('hook-new').hidden &&
		document.getElementById('read-only-note').hidden && document.getElementById('tab-log').hidden`)

	// 2. Create a hook through the form: its card says who created it.
	hookURL := rcv.URL() + "/ci"
	page.do("create a hook",
		chromedp.Click(chromedp.ID("hook-new")),
		chromedp.WaitVisible(chromedp.ID("hook-url")),
		chromedp.SendKeys(chromedp.ID("hook-url"), hookURL),
		chromedp.Click(chromedp.ID("hook-save")))
	page.waitFor("the new hook's card, selected, created by ci", `!document.getElementById('hook-dialog').open &&
		document.querySelectorAll('#hooks-list .hook-card').length === 1 &&
		document.querySelector('#hooks-list .hook-card.selected .hook-created-by')?.textContent === 'created by ci' &&
		document.querySelectorAll('#hooks-list button[aria-label^="Edit"], #hooks-list button[aria-label^="Delete"]').length === 2 &&
		!document.getElementById('items-panel').hidden`)
	var hooks struct {
		Data []struct {
			Slug      string `json:"slug"`
			URL       string `json:"url"`
			CreatedBy struct {
				TokenID   string `json:"token_id"`
				TokenName string `json:"token_name"`
			} `json:"created_by"`
		} `json:"data"`
	}
	srv.mustCall(t, http.MethodGet, hooksPath, "", asWriter, http.StatusOK, &hooks)
	if len(hooks.Data) != 1 || hooks.Data[0].URL != hookURL || hooks.Data[0].CreatedBy.TokenID != writerID {
		t.Fatalf("after the form the API lists %+v, want one hook to %s created by token %s", hooks.Data, hookURL, writerID)
	}
	itemsPath := hooksPath + "/" + hooks.Data[0].Slug + "/delivery-items"

	// 3. A build event, reported with the ingest token: after Refresh its
	// delivery item is listed; opened, it says hookd requested it.
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+app+"/build-events", `{"build_slug":"scoped-build-1","build_number":7,"build_status":1}`,
		map[string]string{"Authorization": "Bearer " + ingester, "Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, nil)
	testkit.WaitUntil(t, pageWait, "the delivery item in the API", func() bool {
		var l itemList
		srv.mustCall(t, http.MethodGet, itemsPath, "", asWriter, http.StatusOK, &l)
		return len(l.Data) == 1
	})
	page.do("refresh the deliveries", chromedp.Click(chromedp.ID("items-refresh")))
	page.waitFor("the delivery item", `document.querySelectorAll('#items-list .item-row').length === 1 &&
		document.querySelector('#items-list .item-row .status')?.textContent === '200'`)
	page.do("open it", chromedp.Click(chromedp.CSS("#items-list li:first-child .item-row")))
	page.waitFor("its details, with Redeliver", `!document.getElementById('detail').hidden &&
		document.getElementById('req-payload').textContent.includes('scoped-build-1') &&
		document.getElementById('detail-facts').textContent.includes('Requested byhookd') &&
		!document.getElementById('redeliver').hidden`)

	// 4. Redeliver: the new item is listed as requested by ci.
	page.do("press Redeliver", chromedp.Click(chromedp.ID("redeliver")))
	page.waitFor("the redelivery, requested by ci", `document.querySelectorAll('#items-list .item-row').length === 2 &&
		document.querySelector('#items-list .item-row .item-requested-by')?.textContent === 'requested by ci' &&
		document.getElementById('redeliver-status').textContent.startsWith('Redelivered as item')`)
	var l itemList
	srv.mustCall(t, http.MethodGet, itemsPath, "", asWriter, http.StatusOK, &l)
	if len(l.Data) != 2 || l.Data[0].RedeliveryOf == nil || *l.Data[0].RedeliveryOf != l.Data[1].Slug {
		t.Fatalf("after Redeliver the API has %+v, want a second item redelivering the first", l.Data)
	}
	if n := len(bodiesAt(rcv, "/ci")); n != 2 {
		t.Fatalf("receiver /ci got %d requests, want 2", n)
	}

	// 5. Sign out: the token and the app are gone from the tab.
	page.do("sign out", chromedp.Click(chromedp.ID("token-forget")))
	page.waitFor("signed out", `!document.getElementById('token-form').hidden &&
		document.getElementById('workspace').hidden && sessionStorage.getItem('hookd.token') === null`)

	// 6. The apps:read token for two apps: it chooses one, and sees the
	// hooks and items but no control to change them.
	page.do("sign in with the apps:read token",
		chromedp.SendKeys(chromedp.ID("token-input"), reader),
		chromedp.Click(chromedp.ID("token-save")))
	page.waitFor("signed in as alice, asked to choose an app", `document.getElementById('me-name')?.textContent === 'alice' &&
		document.getElementById('token-access').textContent.includes('apps:read') &&
		document.getElementById('token-access').textContent.includes('does not expire') &&
		[...document.querySelectorAll('#app-select option')].map((o) => o.value).join(',') === ',other-app,`+app+`' &&
		document.getElementById('app-select').value === '' && document.getElementById('workspace').hidden`)
	page.do("choose the app", chromedp.SendKeys(chromedp.ID("app-select"), "s"))
	page.waitFor("the app's hook, read only", `!document.getElementById('workspace').hidden &&
		document.getElementById('app-name').textContent === '`+app+`' &&
		document.querySelector('#hooks-list .hook-created-by')?.textContent === 'created by ci' &&
		document.getElementById('hook-new').hidden && !document.getElementById('read-only-note').hidden &&
		document.querySelectorAll('#hooks-list .hook-actions, #hooks-list button[aria-label^="Edit"], #hooks-list button[aria-label^="Delete"]').length === 0`)
	page.do("open the hook", chromedp.Click(chromedp.CSS("#hooks-list li:first-child .hook-open")))
	page.waitFor("its two items", `document.querySelectorAll('#items-list .item-row').length === 2`)
	page.do("open the first item", chromedp.Click(chromedp.CSS("#items-list li:last-child .item-row")))
	page.waitFor("its details, without Redeliver", `!document.getElementById('detail').hidden &&
		document.getElementById('req-payload').textContent.includes('scoped-build-1') &&
		document.getElementById('detail-facts').textContent.includes('Redelivered as`+l.Data[0].Slug[:8]+`…') &&
		document.getElementById('redeliver').hidden && document.getElementById('tab-log').hidden`)

	// Hiding is not the guard: a Redeliver button back in view (a page
	// kept from a better token, say) gets the server's 403, as its message.
	page.evalString(`(document.getElementById('redeliver').hidden = false, '')`)
	page.do("press the forced Redeliver", chromedp.Click(chromedp.ID("redeliver")))
	page.waitFor("the 403 message", `document.getElementById('redeliver-status').textContent.startsWith('Error 403: ') &&
		document.getElementById('redeliver-status').textContent.includes('"apps:write"')`)
	srv.mustCall(t, http.MethodGet, itemsPath, "", asWriter, http.StatusOK, &l)
	if len(l.Data) != 2 {
		t.Fatalf("after the refused redelivery the API has %d items, want 2", len(l.Data))
	}

	// 7. A revoked token: the server's 401 message, and the token form.
	srv.mustCall(t, http.MethodDelete, "/v0.1/admin/tokens/"+writerID, "", asAdmin, http.StatusOK, nil)
	page.do("sign out, and in with the revoked token",
		chromedp.Click(chromedp.ID("token-forget")),
		chromedp.WaitVisible(chromedp.ID("token-input")),
		chromedp.SendKeys(chromedp.ID("token-input"), writer),
		chromedp.Click(chromedp.ID("token-save")))
	page.waitFor("the revoked token's 401 message", `!document.getElementById('banner').hidden &&
		document.getElementById('banner-text').textContent.includes('this API token was revoked') &&
		!document.getElementById('token-form').hidden && document.getElementById('workspace').hidden`)

	// 8. The ingest token: told what it can do, with nothing to fail.
	page.do("sign in with the ingest token",
		chromedp.SendKeys(chromedp.ID("token-input"), ingester),
		chromedp.Click(chromedp.ID("token-save")))
	page.waitFor("the ingest-only note", `document.getElementById('me-name')?.textContent === 'builder' &&
		document.getElementById('banner').hidden &&
		!document.getElementById('ingest-only').hidden &&
		document.getElementById('ingest-only-text').textContent.includes('can report build events') &&
		document.getElementById('ingest-only-text').textContent.includes('not read hooks') &&
		document.getElementById('workspace').hidden && document.getElementById('welcome').hidden &&
		document.getElementById('app-form').hidden`)

	page.finish()
}
