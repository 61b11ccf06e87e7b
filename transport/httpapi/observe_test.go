package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/transport/httpapi"
)

// observed is one ObserveRequest call, without its duration.
type observed struct {
	route, method string
	status        int
}

type observations struct {
	mu  sync.Mutex
	got []observed
}

func (o *observations) observe(route, method string, status int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d <= 0 {
		route += " (no duration)"
	}
	o.got = append(o.got, observed{route, method, status})
}

func (o *observations) take() []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.got
	o.got = nil
	return out
}

func TestObserveRequestGetsTheRouteTemplateMethodAndStatus(t *testing.T) {
	s := newStack(t)
	obs := &observations{}
	anon := s.serve(func(c *httpapi.Config) {
		c.APIToken = "t0ken"
		c.ObserveRequest = obs.observe
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("# metrics\n")) })
	})
	api := anon.withHeader("Authorization", "Bearer t0ken")

	hook := api.createHook("app-1", map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"all"}})
	api.do(http.MethodGet, hookPath("app-1", hook.Slug), nil).expect(t, http.StatusOK)
	api.do(http.MethodGet, hookPath("app-1", "no-such-hook"), nil).expect(t, http.StatusNotFound)
	api.do(http.MethodPost, buildEventsPath("app-1"), `{"build_slug": 5}`, "Bitrise-Event-Type", "build/finished").expect(t, http.StatusBadRequest)
	anon.do(http.MethodGet, hooksPath("app-1"), nil).expect(t, http.StatusUnauthorized)
	anon.do(http.MethodGet, "/healthz", nil).expect(t, http.StatusOK)
	anon.do(http.MethodHead, "/readyz", nil).expect(t, http.StatusOK)
	anon.do(http.MethodGet, "/metrics", nil).expect(t, http.StatusOK)
	// No route matched: not observed, so raw paths never become labels.
	anon.do(http.MethodGet, "/no/such/path/"+hook.Slug, nil).expect(t, http.StatusNotFound)

	const hooks = "/v0.1/apps/{app-slug}/outgoing-webhooks"
	want := []observed{
		{hooks, http.MethodPost, http.StatusOK},
		{hooks + "/{webhook-slug}", http.MethodGet, http.StatusOK},
		{hooks + "/{webhook-slug}", http.MethodGet, http.StatusNotFound},
		{"/v0.1/apps/{app-slug}/build-events", http.MethodPost, http.StatusBadRequest},
		{hooks, http.MethodGet, http.StatusUnauthorized},
		{"/healthz", http.MethodGet, http.StatusOK},
		{"/readyz", http.MethodHead, http.StatusOK},
		{"/metrics", http.MethodGet, http.StatusOK},
	}
	got := obs.take()
	if !slices.Equal(got, want) {
		t.Errorf("observed\n%v\nwant\n%v", got, want)
	}
	for _, o := range got {
		if strings.Contains(o.route, hook.Slug) || strings.Contains(o.route, "app-1") {
			t.Errorf("route label %q holds a raw path segment", o.route)
		}
	}
}
