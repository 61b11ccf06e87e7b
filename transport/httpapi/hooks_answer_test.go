package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/sealer"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/httpapi"
	"github.com/hookd/hookd/transport/webhook"
)

// newLaggingStack is a stack whose views lag the log for real: the Badger
// log and the views are real, but no runner applies the log to the views;
// catchUp does, when a test says so. The router waits only briefly for the
// views, and waits records every wait it makes.
func newLaggingStack(t *testing.T, waits *recordingWaiter, mod ...func(*httpapi.Config)) *stack {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := badgerlog.Open(t.TempDir(), badgerlog.Options{Logger: logger})
	if err != nil {
		t.Fatalf("badgerlog.Open: %v", err)
	}
	views, err := projections.OpenViews(t.TempDir(), logger)
	if err != nil {
		_ = store.Close()
		t.Fatalf("projections.OpenViews: %v", err)
	}
	runner, err := projections.NewRunner(store, views, logger) // never run
	if err != nil {
		_ = views.Close()
		_ = store.Close()
		t.Fatalf("projections.NewRunner: %v", err)
	}
	waits.next = runner
	// No runner runs: the views are as far as catchUp took them.
	waits.applied = func() uint64 { cp, _ := views.Checkpoint(); return cp }
	pub := eventlog.NewPublisher(store)
	secrets, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, store: store, views: views, logs: logs,
		base: httpapi.Config{
			Log: pub, LogReader: store, Sealer: secrets, Views: views, Waiter: waits, Logger: logger,
			Targets: webhook.TargetGuard{AllowPrivate: true}, ViewWait: time.Millisecond,
		}}
	t.Cleanup(func() {
		_ = pub.Close()
		if err := views.Close(); err != nil {
			t.Errorf("views.Close: %v", err)
		}
		if err := store.Close(); err != nil {
			t.Errorf("store.Close: %v", err)
		}
		if t.Failed() {
			t.Logf("hookd logs (warn and above):\n%s", logs.String())
		}
	})
	s.api = s.serve(mod...)
	return s
}

// catchUp applies the log's entries the views lack, as the runner would.
func (s *stack) catchUp() {
	s.t.Helper()
	for {
		cp, err := s.views.Checkpoint()
		if err != nil {
			s.t.Fatalf("views.Checkpoint: %v", err)
		}
		if cp >= s.head() {
			return
		}
		entries, err := s.store.ReadBatch(context.Background(), eventlog.Topic, cp+1, 1024)
		if err != nil {
			s.t.Fatalf("store.ReadBatch: %v", err)
		}
		if err := s.views.Apply(entries); err != nil {
			s.t.Fatalf("views.Apply: %v", err)
		}
	}
}

// recordingWaiter passes waits on to next and records each one.
type recordingWaiter struct {
	next    httpapi.ViewWaiter
	applied func() uint64 // how far the views are

	mu    sync.Mutex
	waits []recordedWait
}

type recordedWait struct {
	seq     uint64
	bounded bool // the context had a deadline
}

func (w *recordingWaiter) Applied() uint64 { return w.applied() }

func (w *recordingWaiter) WaitFor(ctx context.Context, seq uint64) error {
	_, bounded := ctx.Deadline()
	w.mu.Lock()
	w.waits = append(w.waits, recordedWait{seq, bounded})
	w.mu.Unlock()
	return w.next.WaitFor(ctx, seq)
}

func (w *recordingWaiter) take() []recordedWait {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.waits
	w.waits = nil
	return out
}

// hookAnswer is a 200 answer's hook, decoded afresh.
func hookAnswer(t *testing.T, r *response) hookOut {
	t.Helper()
	var out struct{ Data hookOut }
	r.expect(t, http.StatusOK).decode(t, &out)
	return out.Data
}

// steppingClock returns the given times in turn, then the last one.
func steppingClock(times ...time.Time) func() time.Time {
	var mu sync.Mutex
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := times[0]
		if len(times) > 1 {
			times = times[1:]
		}
		return t
	}
}

func TestHookWritesAnswerWithTheWrittenHookWhileViewsLag(t *testing.T) {
	created := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)
	put1 := created.Add(time.Hour)
	put2 := put1.Add(time.Hour)
	second := put2.Add(time.Hour)
	waits := &recordingWaiter{}
	s := newLaggingStack(t, waits, func(c *httpapi.Config) { c.Now = steppingClock(created, put1, put2, second) })
	s.forbid("first-secret")

	// POST: the answer is the hook as sent, though the views have not
	// applied it.
	h := hookAnswer(t, s.api.do(http.MethodPost, hooksPath("app-1"), map[string]any{
		"url": "https://example.com/hook", "events": []string{"build/triggered", "build/finished"},
		"headers": map[string]string{"x-custom": "v1"}, "secret": "first-secret",
	}))
	want := hookOut{Slug: h.Slug, URL: "https://example.com/hook", Events: []string{"build/triggered", "build/finished"},
		Headers: map[string]string{"X-Custom": "v1"}, Masked: []string{}, HasSecret: true,
		CreatedAt: created.Format(time.RFC3339Nano), UpdatedAt: created.Format(time.RFC3339Nano)}
	if h.Slug == "" || !reflect.DeepEqual(h, want) {
		t.Fatalf("POST answered\n%+v\nwant\n%+v", h, want)
	}
	if w := waits.take(); !slices.Equal(w, []recordedWait{{s.head(), true}}) {
		t.Errorf("POST waited %+v, want one bounded wait for the appended sequence %d", w, s.head())
	}
	s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil).expectError(t, http.StatusNotFound)

	// Once the views catch up, they show what POST answered.
	s.catchUp()
	got := hookAnswer(t, s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil))
	if !reflect.DeepEqual(got, h) {
		t.Errorf("GET after catching up = %+v, want what POST answered %+v", got, h)
	}

	// PUT without a secret: the new configuration, the secret kept, the
	// creation time of the hook as it was read.
	put := hookAnswer(t, s.api.do(http.MethodPut, hookPath("app-1", h.Slug), map[string]any{
		"url": "https://example.com/new", "events": []string{"all"}, "headers": map[string]string{"X-New": "2"},
	}))
	want = hookOut{Slug: h.Slug, URL: "https://example.com/new", Events: []string{"all"},
		Headers: map[string]string{"X-New": "2"}, Masked: []string{}, HasSecret: true,
		CreatedAt: created.Format(time.RFC3339Nano), UpdatedAt: put1.Format(time.RFC3339Nano)}
	if !reflect.DeepEqual(put, want) {
		t.Errorf("PUT answered\n%+v\nwant\n%+v", put, want)
	}
	if w := waits.take(); !slices.Equal(w, []recordedWait{{s.head(), true}}) {
		t.Errorf("PUT waited %+v, want one bounded wait for the appended sequence %d", w, s.head())
	}
	got = hookAnswer(t, s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil))
	if got.URL != "https://example.com/hook" {
		t.Fatalf("the views were to lag, but GET shows %+v", got)
	}
	s.catchUp()
	got = hookAnswer(t, s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil))
	if !reflect.DeepEqual(got, put) {
		t.Errorf("GET after catching up = %+v, want what PUT answered %+v", got, put)
	}

	// PUT with "secret": "" removes it, and says so at once.
	put = hookAnswer(t, s.api.do(http.MethodPut, hookPath("app-1", h.Slug), map[string]any{
		"url": "https://example.com/new", "events": []string{"all"}, "secret": "",
	}))
	want = hookOut{Slug: h.Slug, URL: "https://example.com/new", Events: []string{"all"},
		Headers: map[string]string{}, Masked: []string{}, HasSecret: false,
		CreatedAt: created.Format(time.RFC3339Nano), UpdatedAt: put2.Format(time.RFC3339Nano)}
	if !reflect.DeepEqual(put, want) {
		t.Errorf("PUT removing the secret answered\n%+v\nwant\n%+v", put, want)
	}
	s.catchUp()
	got = hookAnswer(t, s.api.do(http.MethodGet, hookPath("app-1", h.Slug), nil))
	if !reflect.DeepEqual(got, put) {
		t.Errorf("GET after catching up = %+v, want what PUT answered %+v", got, put)
	}

	// A hook without secret or headers.
	post := hookAnswer(t, s.api.do(http.MethodPost, hooksPath("app-1"), map[string]any{
		"url": "http://example.com/", "events": []string{"build"},
	}))
	want = hookOut{Slug: post.Slug, URL: "http://example.com/", Events: []string{"build"},
		Headers: map[string]string{}, Masked: []string{}, HasSecret: false,
		CreatedAt: second.Format(time.RFC3339Nano), UpdatedAt: second.Format(time.RFC3339Nano)}
	if post.Slug == "" || post.Slug == h.Slug || !reflect.DeepEqual(post, want) {
		t.Errorf("second POST answered\n%+v\nwant\n%+v", post, want)
	}
	s.catchUp()
	got = hookAnswer(t, s.api.do(http.MethodGet, hookPath("app-1", post.Slug), nil))
	if !reflect.DeepEqual(got, post) {
		t.Errorf("GET after catching up = %+v, want what POST answered %+v", got, post)
	}
}

// A PUT with a secret over a hook that had none reports it at once.
func TestPutAddingASecretAnswersHasSecretWhileViewsLag(t *testing.T) {
	waits := &recordingWaiter{}
	s := newLaggingStack(t, waits)
	s.forbid("added-secret")
	h := s.api.createHook("app-1", map[string]any{"url": "https://example.com/", "events": []string{"all"}})
	s.catchUp()
	put := hookAnswer(t, s.api.do(http.MethodPut, hookPath("app-1", h.Slug), map[string]any{
		"url": "https://example.com/", "events": []string{"all"}, "secret": "added-secret",
	}))
	if !put.HasSecret || put.CreatedAt != h.CreatedAt {
		t.Errorf("PUT adding a secret answered %+v, want has_secret true and created_at %s", put, h.CreatedAt)
	}
}
