package domain

import (
	"slices"
	"strings"
	"time"
)

// HookRegistry is the set of hooks as of some point in the log, built by
// applying HookConfigured and HookRemoved in log order. The dispatcher
// keeps one so that which hooks an event matches depends only on the log.
type HookRegistry struct {
	hooks map[string]*Hook
	// order keeps creation order per app, so matches are deterministic.
	order map[string][]string
}

// NewHookRegistry returns an empty registry.
func NewHookRegistry() *HookRegistry {
	return &HookRegistry{hooks: map[string]*Hook{}, order: map[string][]string{}}
}

// Apply folds one event into the registry; other events are ignored.
func (r *HookRegistry) Apply(ev Event) {
	switch e := ev.(type) {
	case HookConfigured:
		r.configure(e)
	case *HookConfigured:
		r.configure(*e)
	case HookRemoved:
		r.remove(e)
	case *HookRemoved:
		r.remove(*e)
	}
}

func (r *HookRegistry) configure(e HookConfigured) {
	h, ok := r.hooks[e.HookSlug]
	if !ok {
		h = &Hook{Slug: e.HookSlug, AppSlug: e.AppSlug, CreatedAt: e.ConfiguredAt}
		r.hooks[e.HookSlug] = h
		r.order[e.AppSlug] = append(r.order[e.AppSlug], e.HookSlug)
	}
	h.URL = e.URL
	h.Events = append([]string(nil), e.Events...)
	h.Headers = make(map[string]string, len(e.Headers))
	for k, v := range e.Headers {
		h.Headers[k] = v
	}
	if e.SealedSecret != nil {
		h.PreviousSealedSecret, h.PreviousValidUntil = "", time.Time{}
		if h.SealedSecret != "" && *e.SealedSecret != "" && e.PreviousSecretValidUntil != nil {
			h.PreviousSealedSecret, h.PreviousValidUntil = h.SealedSecret, *e.PreviousSecretValidUntil
		}
		h.SealedSecret = *e.SealedSecret
	}
	h.UpdatedAt = e.ConfiguredAt
}

func (r *HookRegistry) remove(e HookRemoved) {
	h, ok := r.hooks[e.HookSlug]
	if !ok {
		return
	}
	delete(r.hooks, e.HookSlug)
	// The hook's own app, not the event's: an event naming another app must
	// not leave the slug behind in the order, where Match would find no hook.
	app := h.AppSlug
	slugs := r.order[app]
	for i, s := range slugs {
		if s == e.HookSlug {
			r.order[app] = append(slugs[:i:i], slugs[i+1:]...)
			break
		}
	}
	if len(r.order[app]) == 0 {
		delete(r.order, app)
	}
}

// Get returns a copy of the hook with that slug.
func (r *HookRegistry) Get(slug string) (Hook, bool) {
	h, ok := r.hooks[slug]
	if !ok {
		return Hook{}, false
	}
	return *h, true
}

// Match returns copies of the hooks of the app that want the event type,
// in the order they were created.
func (r *HookRegistry) Match(appSlug, eventType string) []Hook {
	var out []Hook
	for _, slug := range r.order[appSlug] {
		if h := r.hooks[slug]; h.Matches(appSlug, eventType) {
			out = append(out, *h)
		}
	}
	return out
}

// Hooks returns copies of every hook, each app's in creation order, apps
// in no particular order; NewHookRegistryFrom(r.Hooks()) equals r.
func (r *HookRegistry) Hooks() []Hook {
	out := make([]Hook, 0, len(r.hooks))
	for _, slugs := range r.order {
		for _, slug := range slugs {
			out = append(out, *r.hooks[slug])
		}
	}
	return out
}

// NewHookRegistryFrom rebuilds a registry from Hooks' result.
func NewHookRegistryFrom(hooks []Hook) *HookRegistry {
	r := NewHookRegistry()
	for _, h := range hooks {
		h := h
		r.hooks[h.Slug] = &h
		r.order[h.AppSlug] = append(r.order[h.AppSlug], h.Slug)
	}
	return r
}

// URL returns the URL of the hook with that slug, without copying the hook.
func (r *HookRegistry) URL(slug string) (string, bool) {
	h, ok := r.hooks[slug]
	if !ok {
		return "", false
	}
	return h.URL, true
}

// Len is the number of hooks.
func (r *HookRegistry) Len() int { return len(r.hooks) }

// SortHooksByCreation sorts hooks by creation time, then slug, the order
// NewHookRegistryFrom wants each app's hooks in, and returns them.
func SortHooksByCreation(hooks []Hook) []Hook {
	slices.SortStableFunc(hooks, func(a, b Hook) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Slug, b.Slug)
	})
	return hooks
}
