package domain_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

func strp(s string) *string { return &s }

func configured(slug, app string, minute int, events ...string) domain.HookConfigured {
	return domain.HookConfigured{
		HookSlug:     slug,
		AppSlug:      app,
		URL:          "https://example.com/" + slug,
		Events:       events,
		Headers:      map[string]string{"X-Hook": slug},
		ConfiguredAt: at(minute),
	}
}

func removed(slug, app string, minute int) domain.HookRemoved {
	return domain.HookRemoved{HookSlug: slug, AppSlug: app, RemovedAt: at(minute)}
}

func slugs(hooks []domain.Hook) []string {
	out := []string{}
	for _, h := range hooks {
		out = append(out, h.Slug)
	}
	return out
}

func registryOf(events ...domain.Event) *domain.HookRegistry {
	r := domain.NewHookRegistry()
	for _, e := range events {
		r.Apply(e)
	}
	return r
}

func TestHookRegistryMatchReturnsAppHooksWantingTheEventInCreationOrder(t *testing.T) {
	r := registryOf(
		configured("h-c", "app1", 0, "build/finished"),
		configured("h-a", "app1", 1, "all"),
		configured("other", "app2", 2, "all"),
		configured("h-b", "app1", 3, "build/triggered"),
		configured("h-0", "app1", 4, "build"),
	)
	tests := []struct {
		name      string
		app       string
		eventType string
		want      []string
	}{
		{"app1 triggered", "app1", domain.EventBuildTriggered, []string{"h-a", "h-b", "h-0"}},
		{"app1 finished", "app1", domain.EventBuildFinished, []string{"h-c", "h-a", "h-0"}},
		{"app2 triggered", "app2", domain.EventBuildTriggered, []string{"other"}},
		{"app2 finished", "app2", domain.EventBuildFinished, []string{"other"}},
		{"unknown app", "app3", domain.EventBuildFinished, []string{}},
		{"unknown event type", "app1", "push", []string{"h-a", "h-0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slugs(r.Match(tt.app, tt.eventType))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Match(%q, %q) = %q, want %q", tt.app, tt.eventType, got, tt.want)
			}
		})
	}
}

func TestHookRegistryMatchIsStableAcrossCalls(t *testing.T) {
	var events []domain.Event
	var want []string
	for i := range 50 {
		slug := string(rune('a'+i%26)) + string(rune('A'+i/26))
		events = append(events, configured(slug, "app1", i, "all"))
		want = append(want, slug)
	}
	r := registryOf(events...)
	for range 20 {
		if got := slugs(r.Match("app1", domain.EventBuildFinished)); !slices.Equal(got, want) {
			t.Fatalf("Match order = %q, want creation order %q", got, want)
		}
	}
}

func TestHookRegistryReconfigureKeepsCreationOrderAndTime(t *testing.T) {
	r := registryOf(
		configured("first", "app1", 0, "all"),
		configured("second", "app1", 1, "all"),
		configured("third", "app1", 2, "all"),
	)
	r.Apply(domain.HookConfigured{
		HookSlug:     "first",
		AppSlug:      "app1",
		URL:          "https://new.example.com/x",
		Events:       []string{"build/triggered"},
		Headers:      map[string]string{"X-New": "yes"},
		ConfiguredAt: at(10),
	})

	if got, want := slugs(r.Match("app1", domain.EventBuildTriggered)), []string{"first", "second", "third"}; !slices.Equal(got, want) {
		t.Errorf("after re-configure Match(triggered) = %q, want %q", got, want)
	}
	if got, want := slugs(r.Match("app1", domain.EventBuildFinished)), []string{"second", "third"}; !slices.Equal(got, want) {
		t.Errorf("after re-configure to build/triggered only, Match(finished) = %q, want %q", got, want)
	}

	h, ok := r.Get("first")
	if !ok {
		t.Fatal("Get(first) found nothing after re-configure")
	}
	if !h.CreatedAt.Equal(at(0)) {
		t.Errorf("CreatedAt = %v, want the first configuration time %v", h.CreatedAt, at(0))
	}
	if !h.UpdatedAt.Equal(at(10)) {
		t.Errorf("UpdatedAt = %v, want %v", h.UpdatedAt, at(10))
	}
	if h.URL != "https://new.example.com/x" {
		t.Errorf("URL = %q, want the new URL", h.URL)
	}
	if !slices.Equal(h.Events, []string{"build/triggered"}) {
		t.Errorf("Events = %q, want [build/triggered]", h.Events)
	}
	if want := map[string]string{"X-New": "yes"}; !maps.Equal(h.Headers, want) {
		t.Errorf("Headers = %q, want only the new headers %q", h.Headers, want)
	}
}

func TestHookRegistryGetReturnsConfiguredHook(t *testing.T) {
	r := registryOf(domain.HookConfigured{
		HookSlug:     "h1",
		AppSlug:      "app1",
		URL:          "https://example.com/h1",
		Events:       []string{"build"},
		Headers:      map[string]string{"X-A": "1"},
		SealedSecret: strp("sealed-s1"),
		ConfiguredAt: at(3),
	})
	h, ok := r.Get("h1")
	if !ok {
		t.Fatal("Get(h1) found nothing")
	}
	want := domain.Hook{
		Slug: "h1", AppSlug: "app1", URL: "https://example.com/h1",
		Events: []string{"build"}, Headers: map[string]string{"X-A": "1"},
		SealedSecret: "sealed-s1", CreatedAt: at(3), UpdatedAt: at(3),
	}
	if h.Slug != want.Slug || h.AppSlug != want.AppSlug || h.URL != want.URL ||
		!slices.Equal(h.Events, want.Events) || !maps.Equal(h.Headers, want.Headers) ||
		h.SealedSecret != want.SealedSecret || h.PreviousSealedSecret != "" || !h.CreatedAt.Equal(want.CreatedAt) || !h.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("Get(h1) = %+v, want %+v", h, want)
	}
	if _, ok := r.Get("nope"); ok {
		t.Error("Get(nope) found a hook that was never configured")
	}
}

func TestHookRegistryDoesNotShareEventSlicesOrMaps(t *testing.T) {
	ev := configured("h1", "app1", 0, "all")
	r := registryOf(ev)
	ev.Events[0] = "build/finished"
	ev.Headers["X-Hook"] = "changed"
	ev.Headers["X-Extra"] = "added"

	h, _ := r.Get("h1")
	if !slices.Equal(h.Events, []string{"all"}) {
		t.Errorf("Events = %q; changing the applied event changed the registry", h.Events)
	}
	if want := map[string]string{"X-Hook": "h1"}; !maps.Equal(h.Headers, want) {
		t.Errorf("Headers = %q; changing the applied event changed the registry", h.Headers)
	}
}

func TestHookRegistrySecretNilKeepsAndEmptyClears(t *testing.T) {
	withSecret := func(minute int, secret *string) domain.HookConfigured {
		e := configured("h1", "app1", minute, "all")
		e.SealedSecret = secret
		return e
	}
	tests := []struct {
		name    string
		secrets []*string
		want    string
	}{
		{"never set", []*string{nil}, ""},
		{"set", []*string{strp("s1")}, "s1"},
		{"nil keeps old", []*string{strp("s1"), nil}, "s1"},
		{"nil keeps old twice", []*string{strp("s1"), nil, nil}, "s1"},
		{"replaced", []*string{strp("s1"), strp("s2")}, "s2"},
		{"empty clears", []*string{strp("s1"), strp("")}, ""},
		{"empty then nil stays cleared", []*string{strp("s1"), strp(""), nil}, ""},
		{"set after clear", []*string{strp("s1"), strp(""), strp("s3")}, "s3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := domain.NewHookRegistry()
			for i, s := range tt.secrets {
				r.Apply(withSecret(i, s))
			}
			h, ok := r.Get("h1")
			if !ok {
				t.Fatal("Get(h1) found nothing")
			}
			if h.SealedSecret != tt.want {
				t.Errorf("SealedSecret = %q, want %q", h.SealedSecret, tt.want)
			}
			if h.PreviousSealedSecret != "" {
				t.Errorf("PreviousSealedSecret = %q; without PreviousSecretValidUntil no old secret is kept", h.PreviousSealedSecret)
			}
			if m := r.Match("app1", domain.EventBuildFinished); len(m) != 1 || m[0].SealedSecret != tt.want {
				t.Errorf("Match returned %+v, want one hook with secret %q", m, tt.want)
			}
		})
	}
}

func TestHookRegistryRemovedHookNoLongerMatches(t *testing.T) {
	tests := []struct {
		name      string
		events    []domain.Event
		wantMatch []string
		gone      []string
		present   []string
	}{
		{
			name: "remove middle",
			events: []domain.Event{
				configured("a", "app1", 0, "all"),
				configured("b", "app1", 1, "all"),
				configured("c", "app1", 2, "all"),
				removed("b", "app1", 3),
			},
			wantMatch: []string{"a", "c"},
			gone:      []string{"b"},
			present:   []string{"a", "c"},
		},
		{
			name: "remove only hook",
			events: []domain.Event{
				configured("a", "app1", 0, "all"),
				removed("a", "app1", 1),
			},
			wantMatch: []string{},
			gone:      []string{"a"},
		},
		{
			name: "remove all one by one",
			events: []domain.Event{
				configured("a", "app1", 0, "all"),
				configured("b", "app1", 1, "all"),
				removed("a", "app1", 2),
				removed("b", "app1", 3),
			},
			wantMatch: []string{},
			gone:      []string{"a", "b"},
		},
		{
			name: "remove unknown is a no-op",
			events: []domain.Event{
				configured("a", "app1", 0, "all"),
				removed("zzz", "app1", 1),
				removed("zzz", "app9", 2),
			},
			wantMatch: []string{"a"},
			gone:      []string{"zzz"},
			present:   []string{"a"},
		},
		{
			name: "remove twice is a no-op",
			events: []domain.Event{
				configured("a", "app1", 0, "all"),
				configured("b", "app1", 1, "all"),
				removed("a", "app1", 2),
				removed("a", "app1", 3),
			},
			wantMatch: []string{"b"},
			gone:      []string{"a"},
			present:   []string{"b"},
		},
		{
			name: "re-created after removal goes last with a new creation time",
			events: []domain.Event{
				configured("a", "app1", 0, "all"),
				configured("b", "app1", 1, "all"),
				removed("a", "app1", 2),
				configured("a", "app1", 3, "all"),
			},
			wantMatch: []string{"b", "a"},
			present:   []string{"a", "b"},
		},
		{
			name: "removal with a different app slug still removes the hook",
			events: []domain.Event{
				configured("a", "app1", 0, "all"),
				configured("b", "app1", 1, "all"),
				removed("a", "", 2),
			},
			wantMatch: []string{"b"},
			gone:      []string{"a"},
			present:   []string{"b"},
		},
		{
			name: "removal with a different app slug then re-created matches once",
			events: []domain.Event{
				configured("a", "app1", 0, "all"),
				removed("a", "app2", 1),
				configured("a", "app1", 2, "all"),
			},
			wantMatch: []string{"a"},
			present:   []string{"a"},
		},
		{
			name: "other events are ignored",
			events: []domain.Event{
				configured("a", "app1", 0, "all"),
				domain.BuildEventReceived{EventID: "e1", AppSlug: "app1", EventType: domain.EventBuildFinished},
				domain.DeliveryAttempted{DeliveryID: "d1", HookSlug: "a", AppSlug: "app1"},
				domain.RedeliveryRequested{DeliveryID: "d2", HookSlug: "a", AppSlug: "app1"},
				nil,
			},
			wantMatch: []string{"a"},
			present:   []string{"a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := registryOf(tt.events...)
			if got := slugs(r.Match("app1", domain.EventBuildFinished)); !slices.Equal(got, tt.wantMatch) {
				t.Errorf("Match(app1, finished) = %q, want %q", got, tt.wantMatch)
			}
			for _, s := range tt.gone {
				if _, ok := r.Get(s); ok {
					t.Errorf("Get(%q) found a removed hook", s)
				}
			}
			for _, s := range tt.present {
				if _, ok := r.Get(s); !ok {
					t.Errorf("Get(%q) found nothing", s)
				}
			}
		})
	}
}

func TestHookRegistryRecreatedHookHasNewCreationTime(t *testing.T) {
	r := registryOf(
		configured("a", "app1", 0, "all"),
		removed("a", "app1", 1),
		configured("a", "app1", 2, "all"),
	)
	h, ok := r.Get("a")
	if !ok {
		t.Fatal("Get(a) found nothing")
	}
	if !h.CreatedAt.Equal(at(2)) {
		t.Errorf("CreatedAt = %v, want %v (the re-creation)", h.CreatedAt, at(2))
	}
}

func TestHookRegistryAppliesValueAndPointerEvents(t *testing.T) {
	tests := []struct {
		name      string
		configure domain.Event
		remove    domain.Event
	}{
		{"values", configured("a", "app1", 0, "all"), removed("a", "app1", 1)},
		{"pointers", ptr(configured("a", "app1", 0, "all")), ptr(removed("a", "app1", 1))},
		{"value then pointer", configured("a", "app1", 0, "all"), ptr(removed("a", "app1", 1))},
		{"pointer then value", ptr(configured("a", "app1", 0, "all")), removed("a", "app1", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := registryOf(tt.configure)
			if got := slugs(r.Match("app1", domain.EventBuildTriggered)); !slices.Equal(got, []string{"a"}) {
				t.Fatalf("after configure Match = %q, want [a]", got)
			}
			if _, ok := r.Get("a"); !ok {
				t.Fatal("after configure Get(a) found nothing")
			}
			r.Apply(tt.remove)
			if got := r.Match("app1", domain.EventBuildTriggered); len(got) != 0 {
				t.Errorf("after remove Match = %q, want none", slugs(got))
			}
			if _, ok := r.Get("a"); ok {
				t.Error("after remove Get(a) still finds the hook")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestHookRegistryFromHooksMatchesLikeTheOriginal: a registry rebuilt from
// Hooks() (the dispatcher's checkpoint) matches exactly as the one built
// from the events, in the same order.
func TestHookRegistryFromHooksMatchesLikeTheOriginal(t *testing.T) {
	orig := registryOf(
		configured("a1", "app1", 1, domain.SelectAll),
		configured("a2", "app1", 2, domain.EventBuildTriggered),
		configured("b1", "app2", 3, domain.EventBuildFinished),
		configured("a3", "app1", 4, domain.SelectBuild),
		removed("a2", "app1", 5),
	)
	copyOf := domain.NewHookRegistryFrom(orig.Hooks())
	for _, app := range []string{"app1", "app2", "app3"} {
		for _, ev := range []string{domain.EventBuildTriggered, domain.EventBuildFinished} {
			if got, want := slugs(copyOf.Match(app, ev)), slugs(orig.Match(app, ev)); !slices.Equal(got, want) {
				t.Errorf("Match(%s, %s) = %v, want %v", app, ev, got, want)
			}
		}
	}
	if _, ok := copyOf.Get("a2"); ok {
		t.Error("a removed hook came back")
	}
}
