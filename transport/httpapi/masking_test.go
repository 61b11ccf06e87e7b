package httpapi_test

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/projections"
)

// checkMasked fails unless the hook answer shows headers as want and names
// exactly masked as hidden.
func checkMasked(t *testing.T, what string, h hookOut, want map[string]string, masked ...string) {
	t.Helper()
	if !maps.Equal(h.Headers, want) {
		t.Errorf("%s: headers = %q, want %q", what, h.Headers, want)
	}
	if masked == nil {
		masked = []string{}
	}
	if h.Masked == nil || !slices.Equal(h.Masked, masked) {
		t.Errorf("%s: masked_headers = %q, want %q", what, h.Masked, masked)
	}
}

// lastConfiguration is the last HookConfigured in the log.
func (s *stack) lastConfiguration() domain.HookConfigured {
	s.t.Helper()
	all := s.hookConfigurations()
	if len(all) == 0 {
		s.t.Fatal("no HookConfigured in the log")
	}
	return all[len(all)-1]
}

func TestEveryHookAnswerMasksCredentialHeadersWhileTheLogKeepsThem(t *testing.T) {
	s := newStack(t)
	s.forbid("tok-1") // no answer may contain either value
	s.forbid("key-1")
	sent := map[string]string{"authorization": "Bearer tok-1", "X-API-KEY": "key-1", "X-Team": "mobile"}
	shown := map[string]string{"Authorization": domain.Masked, "X-Api-Key": domain.Masked, "X-Team": "mobile"}
	masked := []string{"Authorization", "X-Api-Key"}

	h := s.api.createHook("app-1", map[string]any{"url": "https://example.com/h", "events": []string{"all"}, "headers": sent})
	checkMasked(t, "POST answer", h, shown, masked...)
	checkMasked(t, "GET", hookAnswer(t, s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil)), shown, masked...)
	for _, q := range []string{"", "?include_deleted=true"} {
		list := s.api.listHooks("app-1", q)
		if len(list.Data) != 1 {
			t.Fatalf("list%s: %d hooks, want 1", q, len(list.Data))
		}
		checkMasked(t, "list"+q, list.Data[0], shown, masked...)
	}
	put := hookAnswer(t, s.api.do(http.MethodPut, hookPath("app-1", h.Slug),
		map[string]any{"url": "https://example.com/h", "events": []string{"all"}, "headers": h.Headers}))
	checkMasked(t, "PUT answer", put, shown, masked...)
	del := hookAnswer(t, s.api.do(http.MethodDelete, hookPath("app-1", h.Slug), nil))
	checkMasked(t, "DELETE answer", del, shown, masked...)
	gone := s.api.listHooks("app-1", "?include_deleted=true")
	if len(gone.Data) != 1 || gone.Data[0].DeletedAt == nil {
		t.Fatalf("list?include_deleted=true after DELETE = %+v, want the removed hook", gone.Data)
	}
	checkMasked(t, "list?include_deleted=true of a removed hook", gone.Data[0], shown, masked...)

	// The log keeps the real values: it must, to send them.
	stored := map[string]string{"Authorization": "Bearer tok-1", "X-Api-Key": "key-1", "X-Team": "mobile"}
	for i, c := range s.hookConfigurations() {
		if !maps.Equal(c.Headers, stored) {
			t.Errorf("configuration %d in the log: headers %q, want %q", i, c.Headers, stored)
		}
	}
}

func TestANonCredentialHeaderWhoseValueIsRedactedIsStoredAndShownAsSent(t *testing.T) {
	s := newStack(t)
	headers := map[string]string{"X-Note": domain.Masked}
	h := s.api.createHook("app-1", map[string]any{"url": "https://example.com/h", "events": []string{"all"}, "headers": headers})
	checkMasked(t, "POST answer", h, headers)
	checkMasked(t, "GET", hookAnswer(t, s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil)), headers)
	if got := s.lastConfiguration().Headers; !maps.Equal(got, headers) {
		t.Errorf("the log holds headers %q, want %q as sent", got, headers)
	}
}

func TestPutWithRedactedKeepsTheCredentialAndTheReceiverStillGetsTheRealValue(t *testing.T) {
	s := newStack(t)
	for _, v := range []string{"tok-1", "tok-2", "key-1"} {
		s.forbid(v)
	}
	rc := newReceiver(t, http.StatusOK)
	h := s.api.createHook("app-1", map[string]any{"url": rc.URL() + "/hook", "events": []string{"all"},
		"headers": map[string]string{"Authorization": "Bearer tok-1", "X-Api-Key": "key-1", "X-Team": "mobile"}})

	// What a client does: read the hook, change one thing, send it back.
	read := hookAnswer(t, s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil))
	headers := maps.Clone(read.Headers)
	headers["X-Team"] = "web"
	put := hookAnswer(t, s.api.do(http.MethodPut, hookPath("app-1", h.Slug),
		map[string]any{"url": read.URL, "events": read.Events, "headers": headers}))
	checkMasked(t, "PUT answer", put, map[string]string{"Authorization": domain.Masked, "X-Api-Key": domain.Masked, "X-Team": "web"},
		"Authorization", "X-Api-Key")
	kept := map[string]string{"Authorization": "Bearer tok-1", "X-Api-Key": "key-1", "X-Team": "web"}
	if got := s.lastConfiguration().Headers; !maps.Equal(got, kept) {
		t.Errorf("after a PUT with REDACTED the log holds %q, want %q", got, kept)
	}
	s.api.sendTest("app-1", h.Slug, nil)
	checkReceived(t, rc.WaitForCount(t, 1, waitLimit)[0], kept)

	// A new value replaces the stored one; REDACTED in any case still keeps.
	s.api.do(http.MethodPut, hookPath("app-1", h.Slug), map[string]any{"url": read.URL, "events": read.Events,
		"headers": map[string]string{"authorization": "Bearer tok-2", "x-api-key": domain.Masked, "X-Team": "web"}}).
		expect(t, http.StatusOK)
	replaced := map[string]string{"Authorization": "Bearer tok-2", "X-Api-Key": "key-1", "X-Team": "web"}
	if got := s.lastConfiguration().Headers; !maps.Equal(got, replaced) {
		t.Errorf("after a PUT with a new value the log holds %q, want %q", got, replaced)
	}
	s.api.sendBuild("app-1", domain.EventBuildFinished, buildBody(1))
	checkReceived(t, rc.WaitForCount(t, 2, waitLimit)[1], replaced)
	// The items recorded show the values masked (and no answer holds them).
	for _, it := range s.api.waitItems("app-1", h.Slug, 2) {
		if !strings.Contains(it.RequestHeaders, `"Authorization":"REDACTED"`) {
			t.Errorf("item %s: request headers %s, want Authorization masked", it.Slug, it.RequestHeaders)
		}
	}
}

// checkReceived fails unless the receiver got each header with that value.
func checkReceived(t *testing.T, got testkit.Request, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if vs := got.Header.Values(name); len(vs) != 1 || vs[0] != v {
			t.Errorf("the receiver got %s = %q, want %q", name, vs, v)
		}
	}
}

func TestRedactedForAHeaderWithNoStoredValueIsRejectedAndNothingIsAppended(t *testing.T) {
	s := newStack(t)
	before := s.head()
	s.api.do(http.MethodPost, hooksPath("app-1"), map[string]any{"url": "https://example.com/h", "events": []string{"all"},
		"headers": map[string]string{"authorization": domain.Masked, "X-Team": "mobile"}}).
		expectError(t, http.StatusBadRequest, `"Authorization"`, "send the real value")
	if h := s.head(); h != before {
		t.Errorf("a POST with REDACTED appended: head %d, was %d", h, before)
	}

	h := s.api.createHook("app-1", map[string]any{"url": "https://example.com/h", "events": []string{"all"},
		"headers": map[string]string{"X-Api-Key": "key-1"}})
	before = s.head()
	s.api.do(http.MethodPut, hookPath("app-1", h.Slug), map[string]any{"url": "https://example.com/h", "events": []string{"all"},
		"headers": map[string]string{"X-Api-Key": domain.Masked, "X-Other-Token": domain.Masked}}).
		expectError(t, http.StatusBadRequest, `"X-Other-Token"`, "send the real value")
	if h := s.head(); h != before {
		t.Errorf("a PUT with REDACTED for a header the hook lacks appended: head %d, was %d", h, before)
	}
	if got := s.lastConfiguration().Headers; !maps.Equal(got, map[string]string{"X-Api-Key": "key-1"}) {
		t.Errorf("the hook's headers became %q", got)
	}
}

// applyingWaiter applies the log to the views when the router waits for
// them, as the runner would: entries appended around the router stay
// unseen until it waits.
type applyingWaiter struct {
	store eventlog.Log
	views *projections.Views
}

func (w applyingWaiter) Applied() uint64 { cp, _ := w.views.Checkpoint(); return cp }

func (w applyingWaiter) WaitFor(ctx context.Context, seq uint64) error {
	for {
		cp, err := w.views.Checkpoint()
		if err != nil || cp >= seq {
			return err
		}
		entries, err := w.store.ReadBatch(ctx, eventlog.Topic, cp+1, 1024)
		if err != nil {
			return err
		}
		if err := w.views.Apply(entries); err != nil {
			return err
		}
	}
}

func TestPutWithRedactedKeepsTheValueOfAChangeThatCameFirst(t *testing.T) {
	waits := &recordingWaiter{}
	s := newLaggingStack(t, waits)
	waits.next = applyingWaiter{store: s.store, views: s.views}
	h := s.api.createHook("app-1", map[string]any{"url": "https://example.com/h", "events": []string{"all"},
		"headers": map[string]string{"Authorization": "Bearer old"}})

	// Another writer changes the credential; the views do not show it yet.
	other := domain.HookConfigured{HookSlug: h.Slug, AppSlug: "app-1", URL: "https://example.com/h", Events: []string{"all"},
		Headers: map[string]string{"Authorization": "Bearer new"}, ConfiguredAt: time.Now()}
	msg, err := eventlog.EncodeEvent("other-writer", other)
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := s.base.Log.Append(context.Background(), eventlog.Topic, msg)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.views.Hook("app-1", h.Slug); v.Headers["Authorization"] != "Bearer old" {
		t.Fatalf("the views show %q already; the test needs them behind", v.Headers)
	}
	waits.take()

	// This PUT decides from the old hook first, finds the other change in
	// its way, and decides again from the hook as that change left it.
	s.api.do(http.MethodPut, hookPath("app-1", h.Slug), map[string]any{"url": "https://example.com/h", "events": []string{"all"},
		"headers": map[string]string{"Authorization": domain.Masked, "X-Team": "web"}}).expect(t, http.StatusOK)
	if !slices.ContainsFunc(waits.take(), func(w recordedWait) bool { return w.seq == seqs[0] }) {
		t.Errorf("the PUT never waited for entry %d, the change that came first", seqs[0])
	}
	want := map[string]string{"Authorization": "Bearer new", "X-Team": "web"}
	if got := s.lastConfiguration().Headers; !maps.Equal(got, want) {
		t.Errorf("the log holds %q, want %q: the change that came first is kept, not the value read before it", got, want)
	}
}
