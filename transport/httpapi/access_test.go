package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/transport/httpapi"
)

const bootstrapToken = "bootstrap-token-for-tests"

// tokenOut is an issued token as the API answers it.
type tokenOut struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	Apps      []string  `json:"apps"`
	CreatedAt string    `json:"created_at"`
	ExpiresAt *string   `json:"expires_at"`
	CreatedBy *actorOut `json:"created_by"`
	RevokedAt *string   `json:"revoked_at"`
	RevokedBy *actorOut `json:"revoked_by"`
	Token     string    `json:"token"`
}

type actorOut struct {
	TokenID   string `json:"token_id"`
	TokenName string `json:"token_name"`
}

// issue asks for a token through the API (c must be an admin's client) and
// returns a client that sends it, and the token as answered.
func (c *client) issue(name string, scopes, apps []string, extra ...string) (*client, tokenOut) {
	c.t.Helper()
	body := map[string]any{"name": name, "scopes": scopes, "apps": apps}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	var out struct{ Data tokenOut }
	r := c.do(http.MethodPost, "/v0.1/admin/tokens", body).expect(c.t, http.StatusOK)
	r.decode(c.t, &out)
	if !strings.HasPrefix(out.Data.Token, httpapi.TokenPrefix) || len(out.Data.Token) < len(httpapi.TokenPrefix)+43 {
		c.t.Fatalf("issued token %q: want hkd_ and at least 32 random bytes", out.Data.Token)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		c.t.Errorf("the answer holding a token has Cache-Control %q, want no-store", cc)
	}
	c.st.forbid(out.Data.Token) // never again in any answer
	return c.withHeader("Authorization", "Bearer "+out.Data.Token), out.Data
}

// twoApps is a stack with the bootstrap token and, in each of app-a and
// app-b, a hook that got one build event's delivery.
type twoApps struct {
	s     *stack
	admin *client
	hook  map[string]hookOut
	item  map[string]itemOut
	event map[string]string
}

func newTwoApps(t *testing.T, opts ...func(*service.Config)) *twoApps {
	t.Helper()
	s := newStack(t, append([]func(*service.Config){func(c *service.Config) { c.APIToken = bootstrapToken }}, opts...)...)
	admin := s.api.withHeader("Authorization", "Bearer "+bootstrapToken)
	rcv := newReceiver(t, http.StatusOK)
	w := &twoApps{s: s, admin: admin, hook: map[string]hookOut{}, item: map[string]itemOut{}, event: map[string]string{}}
	for _, app := range []string{"app-a", "app-b"} {
		h := admin.createHook(app, map[string]any{"url": rcv.URL() + "/" + app + "-receiver", "events": []string{"all"},
			"headers": map[string]string{"X-Team": app + "-team"}})
		ev := admin.sendBuild(app, "build/finished", buildBody(1))
		w.hook[app], w.event[app], w.item[app] = h, ev.EventID, admin.waitItems(app, h.Slug, 1)[0]
	}
	return w
}

// secretsOf are strings that belong to app and to no other: what no
// answer about another app may hold.
func (w *twoApps) secretsOf(app string) []string {
	return []string{w.hook[app].Slug, w.hook[app].URL, w.event[app], w.item[app].Slug, app + "-team", app + "-receiver"}
}

// TestEveryScopeOpensExactlyItsRoutesAndOnlyItsApps calls every operation
// of the OpenAPI document, with a token of each kind, on the token's app
// and on another: the scope the document names (x-hookd-scope) is
// enforced, and no answer about one app holds anything of the other.
func TestEveryScopeOpensExactlyItsRoutesAndOnlyItsApps(t *testing.T) {
	w := newTwoApps(t)
	doc := loadContract(t)
	const unknown = "00000000-0000-4000-8000-000000000000"
	type tok struct {
		name   string
		scopes []string
		apps   []string
	}
	toks := []tok{
		{"ingest-a", []string{"ingest"}, []string{"app-a"}},
		{"read-a", []string{"apps:read"}, []string{"app-a"}},
		{"write-a", []string{"apps:write"}, []string{"app-a"}},
		{"read-ingest-a", []string{"apps:read", "ingest"}, []string{"app-a"}},
		{"write-all", []string{"apps:write"}, []string{"*"}},
		{"admin", []string{"admin"}, []string{"*"}},
	}
	clients := map[string]*client{"bootstrap": w.admin}
	access := map[string]tok{"bootstrap": {"bootstrap", []string{"admin"}, []string{"*"}}}
	for _, tk := range toks {
		clients[tk.name], _ = w.admin.issue(tk.name, tk.scopes, tk.apps)
		access[tk.name] = tk
	}
	allowed := func(tk tok, scope, app string) bool {
		if slices.Contains(tk.scopes, "admin") {
			return true
		}
		if scope == "" {
			return true
		}
		has := slices.Contains(tk.scopes, scope) || scope == "apps:read" && slices.Contains(tk.scopes, "apps:write")
		if app == "" {
			return false
		}
		return has && (slices.Contains(tk.apps, "*") || slices.Contains(tk.apps, app))
	}
	// request fills in an operation's path for app with real slugs for
	// reads and unknown ones for writes (so an allowed write changes
	// nothing: 400 or 404), and a body.
	request := func(method, path, app string) (string, any, []string) {
		write := method != http.MethodGet
		p := strings.NewReplacer("{app-slug}", app, "{event-id}", w.event[app], "{token-id}", unknown).Replace(path)
		hook, item := w.hook[app].Slug, w.item[app].Slug
		if write {
			hook, item = unknown, unknown
		}
		p = strings.NewReplacer("{webhook-slug}", hook, "{item-slug}", item).Replace(p)
		switch {
		case p == "/v0.1/log/entries":
			p += "?to=1"
		case method == http.MethodPut:
			return p, hookBody(nil), nil
		case method == http.MethodPost && strings.HasSuffix(p, "/redeliver-failed"):
			return p, map[string]any{"since": time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)}, nil
		case method == http.MethodPost && strings.HasSuffix(p, "/admin/projections/rebuild"):
			return p, nil, nil
		case method == http.MethodPost:
			return p, "{}", nil // invalid: 400 once let in
		}
		return p, nil, nil
	}
	calls := 0
	for path, item := range doc.Paths.Map() {
		if !strings.HasPrefix(path, "/v0.1/") {
			continue
		}
		for method, op := range item.Operations() {
			scope, ok := op.Extensions["x-hookd-scope"].(string)
			if !ok {
				t.Errorf("%s %s: the document names no x-hookd-scope", method, path)
				continue
			}
			apps := []string{""}
			if strings.Contains(path, "{app-slug}") {
				apps = []string{"app-a", "app-b"}
			}
			for name, c := range clients {
				tk := access[name]
				for _, app := range apps {
					p, body, headers := request(method, path, app)
					r := c.do(method, p, body, headers...)
					calls++
					want := allowed(tk, scope, app)
					switch {
					case want && (r.Status == http.StatusForbidden || r.Status == http.StatusUnauthorized):
						t.Errorf("%s (%v for %v): %s %s = %d, want it let in (scope %q): %s", name, tk.scopes, tk.apps, method, p, r.Status, scope, r.Body)
					case !want && r.Status != http.StatusForbidden:
						t.Errorf("%s (%v for %v): %s %s = %d, want 403 (scope %q): %s", name, tk.scopes, tk.apps, method, p, r.Status, scope, r.Body)
					case !want:
						msg := r.expectError(t, http.StatusForbidden)
						if !strings.Contains(msg, scope) && !strings.Contains(msg, "admin") && !strings.Contains(msg, `"`+app+`"`) {
							t.Errorf("%s: %s %s: 403 %q names neither the scope %q nor the app", name, method, p, msg, scope)
						}
					}
					// Nothing of the other app, ever, in an answer about this one.
					if app != "" && !slices.Contains(tk.scopes, "admin") && !slices.Contains(tk.apps, "*") {
						other := map[string]string{"app-a": "app-b", "app-b": "app-a"}[app]
						for _, s := range w.secretsOf(other) {
							if strings.Contains(string(r.Body), s) {
								t.Errorf("%s: %s %s answered something of %s (%q): %s", name, method, p, other, s, r.Body)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d calls, %d tokens", calls, len(clients))
}

// TestAnItemOfAnotherAppIsNotFoundUnderThisAppsPath: a token for app-a
// that names app-b's hook, item or build event under app-a's path gets a
// 404 that holds nothing of app-b.
func TestAnItemOfAnotherAppIsNotFoundUnderThisAppsPath(t *testing.T) {
	w := newTwoApps(t)
	writer, _ := w.admin.issue("write-a", []string{"apps:write"}, []string{"app-a"})
	a, b := w.hook["app-a"].Slug, w.hook["app-b"].Slug
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, hookPath("app-a", b)},
		{http.MethodGet, itemsPath("app-a", b)},
		{http.MethodGet, itemsPath("app-a", b) + "/" + w.item["app-b"].Slug},
		{http.MethodGet, itemsPath("app-a", a) + "/" + w.item["app-b"].Slug},
		{http.MethodPost, itemsPath("app-a", a) + "/" + w.item["app-b"].Slug + "/redeliver"},
		{http.MethodPost, itemsPath("app-a", b) + "/" + w.item["app-b"].Slug + "/redeliver"},
		{http.MethodPost, hookPath("app-a", b) + "/test"},
		{http.MethodDelete, hookPath("app-a", b)},
		{http.MethodGet, buildEventsPath("app-a") + "/" + w.event["app-b"]},
		{http.MethodGet, itemsPath("app-a", a) + "?build_slug=build-1"},
	} {
		r := writer.do(tc.method, tc.path, nil)
		if tc.method == http.MethodGet && strings.Contains(tc.path, "?") {
			r.expect(t, http.StatusOK)
		} else {
			r.expectError(t, http.StatusNotFound)
		}
		for _, s := range w.secretsOf("app-b") {
			if s != b && s != w.item["app-b"].Slug && s != w.event["app-b"] && strings.Contains(string(r.Body), s) {
				t.Errorf("%s %s answered something of app-b (%q): %s", tc.method, tc.path, s, r.Body)
			}
		}
	}
	// app-b's hook is still there: the DELETE under app-a's path did nothing.
	w.admin.do(http.MethodGet, hookPath("app-b", b), nil).expect(t, http.StatusOK)
	if got := writer.listHooks("app-a", ""); len(got.Data) != 1 || got.Data[0].Slug != a {
		t.Errorf("app-a's hooks as its token lists them: %+v", got.Data)
	}
}

func TestRequestsWithoutAValidTokenAre401WithAChallenge(t *testing.T) {
	w := newTwoApps(t)
	_, revoked := w.admin.issue("gone", []string{"apps:read"}, []string{"app-a"})
	w.admin.do(http.MethodDelete, "/v0.1/admin/tokens/"+revoked.ID, nil).expect(t, http.StatusOK)
	for _, tc := range []struct {
		auth, words, challenge string
	}{
		{"", "needs an API token", `Bearer realm="hookd"`},
		{"Bearer wrong", "unknown", `Bearer realm="hookd", error="invalid_token"`},
		{"Bearer " + httpapi.TokenPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "unknown", `Bearer realm="hookd", error="invalid_token"`},
		{"Bearer " + revoked.Token, "revoked", `Bearer realm="hookd", error="invalid_token"`},
	} {
		c := w.s.api
		if tc.auth != "" {
			c = c.withHeader("Authorization", tc.auth)
		}
		for _, p := range []string{hooksPath("app-a"), "/v0.1/me", "/v0.1/admin/tokens"} {
			r := c.do(http.MethodGet, p, nil)
			r.expectError(t, http.StatusUnauthorized, tc.words)
			if got := r.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("%q: GET %s: WWW-Authenticate %q, want %q", tc.auth, p, got, tc.challenge)
			}
		}
	}
}

func TestARevokedTokenIsRefusedFromTheVeryNextRequest(t *testing.T) {
	w := newTwoApps(t)
	alice, tk := w.admin.issue("alice", []string{"apps:write"}, []string{"app-a"})
	alice.listHooks("app-a", "")
	var out struct{ Data tokenOut }
	w.admin.do(http.MethodDelete, "/v0.1/admin/tokens/"+tk.ID, nil).expect(t, http.StatusOK).decode(t, &out)
	if out.Data.RevokedAt == nil || out.Data.RevokedBy == nil || out.Data.RevokedBy.TokenID != "bootstrap" || out.Data.Token != "" {
		t.Errorf("the revoke answer: %+v", out.Data)
	}
	alice.do(http.MethodGet, hooksPath("app-a"), nil).expectError(t, http.StatusUnauthorized, "revoked")
	alice.do(http.MethodPost, hooksPath("app-a"), hookBody(nil)).expectError(t, http.StatusUnauthorized, "revoked")
	// Once more changes nothing; the list keeps it, revoked, without its secret.
	w.admin.do(http.MethodDelete, "/v0.1/admin/tokens/"+tk.ID, nil).expect(t, http.StatusOK)
	w.admin.do(http.MethodDelete, "/v0.1/admin/tokens/00000000-0000-4000-8000-000000000000", nil).expectError(t, http.StatusNotFound, "token")
	var list struct{ Data []tokenOut }
	w.admin.do(http.MethodGet, "/v0.1/admin/tokens", nil).expect(t, http.StatusOK).decode(t, &list)
	if len(list.Data) != 1 || list.Data[0].ID != tk.ID || list.Data[0].RevokedAt == nil || list.Data[0].Token != "" {
		t.Errorf("tokens listed: %+v", list.Data)
	}
}

func TestAnExpiredTokenIsRefused(t *testing.T) {
	w := newTwoApps(t)
	expires := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	c, tk := w.admin.issue("temp", []string{"apps:read"}, []string{"app-a"}, "expires_at", expires.Format(time.RFC3339))
	var me struct{ Data map[string]any }
	c.do(http.MethodGet, "/v0.1/me", nil).expect(t, http.StatusOK).decode(t, &me)
	if me.Data["expires_at"] != expires.Format(time.RFC3339) || me.Data["name"] != "temp" || me.Data["token_id"] != tk.ID {
		t.Errorf("GET /v0.1/me = %v", me.Data)
	}
	// The same server an hour and a second later.
	later := w.s.serve(func(cfg *httpapi.Config) {
		cfg.Now = func() time.Time { return expires.Add(time.Second) }
	}).withHeader("Authorization", "Bearer "+tk.Token)
	later.do(http.MethodGet, hooksPath("app-a"), nil).expectError(t, http.StatusUnauthorized, "expired", expires.Format(time.RFC3339))
	w.admin.do(http.MethodPost, "/v0.1/admin/tokens", map[string]any{"name": "x", "scopes": []string{"ingest"}, "apps": []string{"a"},
		"expires_at": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}).expectError(t, http.StatusBadRequest, "expires_at", "past")
}

func TestATokenRequestMustSayWhatItOpens(t *testing.T) {
	w := newTwoApps(t)
	for _, tc := range []struct {
		body  map[string]any
		words []string
	}{
		{map[string]any{"name": "x", "scopes": []string{"apps:delete"}, "apps": []string{"app-a"}}, []string{"scopes", "apps:delete", "ingest"}},
		{map[string]any{"name": "x", "scopes": []string{}, "apps": []string{"app-a"}}, []string{"scopes", "required"}},
		{map[string]any{"name": "x", "scopes": []string{"ingest"}, "apps": []string{}}, []string{"apps", "required"}},
		{map[string]any{"name": "x", "scopes": []string{"ingest"}}, []string{"apps"}},
		{map[string]any{"name": "x", "scopes": []string{"ingest"}, "apps": []string{"no spaces"}}, []string{"apps", "no spaces"}},
		{map[string]any{"name": "", "scopes": []string{"ingest"}, "apps": []string{"a"}}, []string{"name"}},
	} {
		w.admin.do(http.MethodPost, "/v0.1/admin/tokens", tc.body).expectError(t, http.StatusBadRequest, tc.words...)
	}
	var list struct{ Data []tokenOut }
	w.admin.do(http.MethodGet, "/v0.1/admin/tokens", nil).expect(t, http.StatusOK).decode(t, &list)
	if len(list.Data) != 0 {
		t.Errorf("refused requests issued tokens: %+v", list.Data)
	}
	// A non-admin token cannot issue one, even for its own app.
	writer, _ := w.admin.issue("w", []string{"apps:write", "ingest", "apps:read"}, []string{"app-a"})
	writer.do(http.MethodPost, "/v0.1/admin/tokens", map[string]any{"name": "y", "scopes": []string{"admin"}, "apps": []string{"app-a"}}).
		expectError(t, http.StatusForbidden, "admin")
	var me struct{ Data map[string]any }
	writer.do(http.MethodGet, "/v0.1/me", nil).expect(t, http.StatusOK).decode(t, &me)
	if fmt.Sprint(me.Data["scopes"]) != "[apps:read apps:write ingest]" || fmt.Sprint(me.Data["apps"]) != "[app-a]" {
		t.Errorf("GET /v0.1/me = %v; want the scopes sorted and the apps", me.Data)
	}
}

// TestWithoutABootstrapTokenRequestsAreAnonymousAdmins: a loopback server
// started without --api-token lets a request without a token do
// everything, as "anonymous", but issue tokens (they would outlive the
// switch to a bootstrap token) or answer a request naming another host
// (DNS rebinding).
func TestWithoutABootstrapTokenRequestsAreAnonymousAdmins(t *testing.T) {
	s := newStack(t)
	var me struct{ Data map[string]any }
	s.api.do(http.MethodGet, "/v0.1/me", nil).expect(t, http.StatusOK).decode(t, &me)
	if me.Data["token_id"] != "anonymous" || fmt.Sprint(me.Data["scopes"]) != "[admin]" {
		t.Errorf("GET /v0.1/me without a token = %v", me.Data)
	}
	s.api.createHook("app-a", hookBody(nil))
	s.api.do(http.MethodPost, "/v0.1/admin/tokens", map[string]any{"name": "x", "scopes": []string{"admin"}, "apps": []string{"*"}}).
		expectError(t, http.StatusForbidden, "without an API token", "HOOKD_API_TOKEN")
	s.api.withHeader("Authorization", "Bearer nonsense").do(http.MethodGet, hooksPath("app-a"), nil).expectError(t, http.StatusUnauthorized, "unknown")
	withHost := func(host string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, s.api.base+hooksPath("app-a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := s.api.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, host := range []string{"attacker.example", "attacker.example:80", "127.0.0.1.nip.io"} {
		if got := withHost(host); got != http.StatusForbidden {
			t.Errorf("Host %q without any API token: %d, want 403", host, got)
		}
	}
	for _, host := range []string{"localhost", "LOCALHOST:8080", "127.0.0.1:1", "[::1]:8080"} {
		if got := withHost(host); got != http.StatusOK {
			t.Errorf("Host %q without any API token: %d, want 200", host, got)
		}
	}
}

func TestTwoAuthorizationHeadersAreRefused(t *testing.T) {
	w := newTwoApps(t)
	_, reader := w.admin.issue("reader", []string{"apps:read"}, []string{"app-a"})
	req, err := http.NewRequest(http.MethodGet, w.s.api.base+"/v0.1/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Add("Authorization", "Bearer "+reader.Token)
	req.Header.Add("Authorization", "Bearer "+bootstrapToken)
	resp, err := w.s.api.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("two Authorization headers: %d, want 401", resp.StatusCode)
	}
}

// followLog opens GET /v0.1/log/entries?follow=true&from=from with token
// and returns the entries' sequences as they arrive; the channel closes
// when the stream ends.
func followLog(t *testing.T, c *client, token string, from uint64) <-chan uint64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v0.1/log/entries?follow=true&from=%d", c.base, from), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("follow: %d", resp.StatusCode)
	}
	seqs := make(chan uint64, 1024)
	go func() {
		defer close(seqs)
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var e struct{ Seq uint64 }
			if dec.Decode(&e) != nil {
				return
			}
			seqs <- e.Seq
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return seqs
}

// TestALogStreamEndsWhenItsTokenIsRevoked: a follower of the log whose
// token is revoked gets nothing after its revocation, and its stream ends.
func TestALogStreamEndsWhenItsTokenIsRevoked(t *testing.T) {
	w := newTwoApps(t)
	_, auditor := w.admin.issue("auditor", []string{"admin"}, []string{"*"})
	from := w.s.head() + 1
	seqs := followLog(t, w.s.api, auditor.Token, from)
	w.admin.createHook("app-b", hookBody(nil)) // seen: before the revocation
	w.admin.do(http.MethodDelete, "/v0.1/admin/tokens/"+auditor.ID, nil).expect(t, http.StatusOK)
	revokedAt := w.s.head()
	w.admin.createHook("app-b", hookBody(nil)) // after it: never seen
	var got []uint64
	timeout := time.After(waitLimit)
	for done := false; !done; {
		select {
		case seq, ok := <-seqs:
			if !ok {
				done = true
				break
			}
			got = append(got, seq)
		case <-timeout:
			t.Fatalf("the revoked token's stream did not end; it got %v", got)
		}
	}
	// How much of the log before the revocation it got depends on when
	// the views applied it; nothing after it, ever.
	for i, seq := range got {
		if seq != from+uint64(i) || seq > revokedAt {
			t.Errorf("the revoked token's stream got %v, want entries from %d on, none after its revocation at %d", got, from, revokedAt)
			break
		}
	}
}

// TestALogStreamEndsWhenItsTokenExpires: a stream opened with a token
// about to expire ends at the expiry, without any further entry.
func TestALogStreamEndsWhenItsTokenExpires(t *testing.T) {
	w := newTwoApps(t)
	expires := time.Now().Add(1500 * time.Millisecond)
	_, brief := w.admin.issue("brief", []string{"admin"}, []string{"*"}, "expires_at", expires.UTC().Format(time.RFC3339Nano))
	seqs := followLog(t, w.s.api, brief.Token, w.s.head()+1)
	select {
	case seq, ok := <-seqs:
		if ok {
			t.Errorf("the stream got entry %d, appended by nobody", seq)
		}
	case <-time.After(waitLimit):
		t.Fatalf("the stream of a token that expired at %s did not end", expires.Format(time.RFC3339Nano))
	}
	w.s.api.withHeader("Authorization", "Bearer "+brief.Token).do(http.MethodGet, "/v0.1/me", nil).expectError(t, http.StatusUnauthorized, "expired")
}
