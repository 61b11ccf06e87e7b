package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/httpapi"
)

// panickingViews panics on every hook read, the way a bug would.
type panickingViews struct{ httpapi.Views }

type viewsBug struct{ what string }

func (panickingViews) Hook(string, string) (projections.HookView, error) {
	panic(viewsBug{"hook read"})
}

// panics records OnPanic's calls.
type panics struct {
	mu  sync.Mutex
	got []any
}

func (p *panics) onPanic(v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, v)
}

func (p *panics) take() []any {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.got
	p.got = nil
	return out
}

func TestPanicInAnyHandlerAnswers500AndCallsOnPanicOnce(t *testing.T) {
	s := newStack(t)
	h := s.api.createHook("app-1", map[string]any{"url": "https://example.com/", "events": []string{"all"}})
	seen := &panics{}
	obs := &observations{}
	api := s.serve(func(c *httpapi.Config) {
		c.Views = panickingViews{c.Views}
		c.OnPanic = seen.onPanic
		c.ObserveRequest = obs.observe
		c.UI = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("ui bug") })
		c.Metrics = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("metrics bug") })
		c.Ready = func(context.Context) error { panic("readyz bug") }
	})

	for _, tc := range []struct {
		method, path string
		value        any
		route        string
	}{
		{http.MethodGet, hookPath("app-1", h.Slug), viewsBug{"hook read"}, "/v0.1/apps/{app-slug}/outgoing-webhooks/{webhook-slug}"},
		{http.MethodDelete, hookPath("app-1", h.Slug), viewsBug{"hook read"}, "/v0.1/apps/{app-slug}/outgoing-webhooks/{webhook-slug}"},
		{http.MethodGet, "/", "ui bug", "/"},
		{http.MethodGet, "/assets/app.js", "ui bug", "/assets/"},
		{http.MethodGet, "/metrics", "metrics bug", "/metrics"},
		{http.MethodGet, "/readyz", "readyz bug", "/readyz"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			api.doAllowing5xx(tc.method, tc.path, nil).expectError(t, http.StatusInternalServerError, "internal")
			if got := seen.take(); !slices.Equal(got, []any{tc.value}) {
				t.Errorf("OnPanic got %v, want exactly [%v]", got, tc.value)
			}
			if got, want := obs.take(), []observed{{tc.route, tc.method, http.StatusInternalServerError}}; !slices.Equal(got, want) {
				t.Errorf("observed %v, want %v", got, want)
			}
		})
	}

	// Each panic was logged at ERROR with its stack.
	var lines []string
	for line := range strings.Lines(s.logs.String()) {
		if strings.Contains(line, `msg="handler panicked"`) {
			lines = append(lines, line)
		}
	}
	if len(lines) != 6 {
		t.Errorf("%d panics logged, want 6:\n%s", len(lines), s.logs.String())
	}
	for _, line := range lines {
		if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "stack=") || !strings.Contains(line, "panic_test.go") {
			t.Errorf("panic log line has no level ERROR or no stack down to the panic: %s", line)
		}
	}
	if !strings.Contains(s.logs.String(), "panickingViews.Hook") {
		t.Errorf("no logged stack shows the panicking function:\n%s", s.logs.String())
	}
}

// A panic after the answer began cannot turn into a 500: the answer is cut
// off, so the client cannot take it for a whole one, and OnPanic is called.
// That holds outside the routes' handlers too, as in the ObserveRequest
// callback, which runs once the answer is written. A deliberate
// http.ErrAbortHandler is no bug: it is not reported.
func TestPanicAfterTheAnswerBeganCutsItOff(t *testing.T) {
	s := newStack(t)
	seen := &panics{}
	api := s.serve(func(c *httpapi.Config) {
		c.OnPanic = seen.onPanic
		c.UI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			if r.URL.Path == "/assets/flush" {
				w.(http.Flusher).Flush() // the header only
				panic("bug after flushing")
			}
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, strings.Repeat("partial answer\n", 1000))
			if r.URL.Path == "/assets/abort" {
				panic(http.ErrAbortHandler)
			}
			panic("bug after writing")
		})
	})
	observing := s.serve(func(c *httpapi.Config) {
		c.OnPanic = seen.onPanic
		c.ObserveRequest = func(string, string, int, time.Duration) { panic("observer bug") }
	})

	for _, tc := range []struct {
		api  *client
		path string
		want []any
	}{
		{api, "/assets/bug", []any{"bug after writing"}},
		{api, "/assets/flush", []any{"bug after flushing"}},
		{api, "/assets/abort", nil},
		{observing, "/healthz", []any{"observer bug"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := tc.api.http.Get(tc.api.base + tc.path)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Errorf("GET %s: got a whole answer (status %d), want it cut off", tc.path, resp.StatusCode)
			}
			if got := seen.take(); !slices.Equal(got, tc.want) {
				t.Errorf("OnPanic got %v, want %v", got, tc.want)
			}
		})
	}
}
