package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/service"
)

// buildAnswer is a build event POST's status and data.
type buildAnswer struct {
	status int
	data   struct {
		EventID   string `json:"event_id"`
		Sequence  uint64 `json:"sequence"`
		Duplicate *bool  `json:"duplicate"`
	}
	body string
}

// postBuild posts a build event with the given headers (name, value
// pairs); safe to call from any goroutine (it reports through the error).
func (c *client) postBuild(app, eventType string, body map[string]any, headers ...string) (buildAnswer, error) {
	var out buildAnswer
	j, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, c.base+buildEventsPath(app), bytes.NewReader(j))
	if err != nil {
		return out, err
	}
	req.Header.Set("Bitrise-Event-Type", eventType)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return out, err
	}
	out.status, out.body = resp.StatusCode, string(b)
	if out.status == http.StatusOK || out.status == http.StatusAccepted {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return out, fmt.Errorf("decode %s: %w", b, err)
		}
		if err := json.Unmarshal(env.Data, &out.data); err != nil {
			return out, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	return out, nil
}

// mustPostBuild is postBuild on the test goroutine, expecting status want
// and a duplicate field that says whether it is 200.
func (c *client) mustPostBuild(app, eventType string, body map[string]any, want int, headers ...string) buildAnswer {
	c.t.Helper()
	a, err := c.postBuild(app, eventType, body, headers...)
	if err != nil {
		c.t.Fatal(err)
	}
	if a.status != want {
		c.t.Fatalf("POST build event: status %d, want %d: %s", a.status, want, a.body)
	}
	if want == http.StatusOK || want == http.StatusAccepted {
		if a.data.Duplicate == nil || *a.data.Duplicate != (want == http.StatusOK) {
			c.t.Fatalf("POST build event answered %d with %s: want \"duplicate\": %v", a.status, a.body, want == http.StatusOK)
		}
	}
	return a
}

// loggedBuildEvents returns the build events in the stack's log, in order.
func (s *stack) loggedBuildEvents() []domain.BuildEventReceived {
	s.t.Helper()
	var out []domain.BuildEventReceived
	for next := uint64(1); ; {
		es, err := s.store.ReadBatch(s.t.Context(), eventlog.Topic, next, 256)
		if err != nil {
			s.t.Fatalf("ReadBatch: %v", err)
		}
		if len(es) == 0 {
			return out
		}
		for _, e := range es {
			if e.Name() != domain.NameBuildEventReceived {
				continue
			}
			ev, err := eventlog.DecodeEntry(e)
			if err != nil {
				s.t.Fatal(err)
			}
			out = append(out, ev.(domain.BuildEventReceived))
		}
		next = es[len(es)-1].Seq + 1
	}
}

// postAtOnce posts the same build event n times at once and checks the
// answers: one 202, n-1 200s with its event_id and sequence and
// "duplicate": true. It returns the 202's answer.
func postAtOnce(t *testing.T, c *client, n int, app, eventType string, body map[string]any, headers ...string) buildAnswer {
	t.Helper()
	answers := make([]buildAnswer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i], errs[i] = c.postBuild(app, eventType, body, headers...)
		})
	}
	close(start)
	wg.Wait()
	var first *buildAnswer
	dups := 0
	for i, a := range answers {
		if errs[i] != nil {
			t.Fatalf("POST %d: %v", i, errs[i])
		}
		switch {
		case a.status == http.StatusAccepted && a.data.Duplicate != nil && !*a.data.Duplicate:
			if first != nil {
				t.Fatalf("two POSTs of one build event answered 202: %s and %s", first.body, a.body)
			}
			first = &answers[i]
		case a.status == http.StatusOK && a.data.Duplicate != nil && *a.data.Duplicate:
			dups++
		default:
			t.Fatalf("POST %d answered %d: %s; want 202 with \"duplicate\": false or 200 with \"duplicate\": true", i, a.status, a.body)
		}
	}
	if first == nil || dups != n-1 {
		t.Fatalf("%d POSTs of one build event: 202 %v, %d answered 200; want one 202 and %d 200s", n, first != nil, dups, n-1)
	}
	for _, a := range answers {
		if a.data.EventID != first.data.EventID || a.data.Sequence != first.data.Sequence {
			t.Fatalf("a repeat answered %s, want the original's event_id and sequence: %s", a.body, first.body)
		}
	}
	return *first
}

func TestRepeatedBuildEventIsLoggedAndDeliveredOnce(t *testing.T) {
	s := newStack(t)
	rc := newReceiver(t, http.StatusOK)
	s.api.createHook("app-1", map[string]any{"url": rc.URL() + "/", "events": []string{"all"}})
	body := buildBody(1)

	first := postAtOnce(t, s.api, 20, "app-1", "build/finished", body)
	evs := s.loggedBuildEvents()
	if len(evs) != 1 || evs[0].EventID != first.data.EventID {
		t.Fatalf("the log holds %d build events (%+v), want exactly the one answered 202 (%s)", len(evs), evs, first.data.EventID)
	}
	// A later repeat, one at a time, is a duplicate too.
	again := s.api.mustPostBuild("app-1", "build/finished", body, http.StatusOK)
	if again.data.EventID != first.data.EventID || again.data.Sequence != first.data.Sequence {
		t.Fatalf("a later repeat answered %s, want %s", again.body, first.body)
	}
	// A new event after them is delivered: the receiver has both, so the
	// first had its one delivery, and no more.
	s.api.mustPostBuild("app-1", "build/finished", buildBody(2), http.StatusAccepted)
	got := rc.WaitForCount(t, 2, waitLimit)
	slugs := map[string]int{}
	for _, r := range got {
		var p struct {
			BuildSlug string `json:"build_slug"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		slugs[p.BuildSlug]++
	}
	if slugs["build-1"] != 1 || slugs["build-2"] != 1 {
		t.Fatalf("deliveries by build slug %v, want one of each", slugs)
	}
	if n := len(s.loggedBuildEvents()); n != 2 {
		t.Fatalf("the log holds %d build events, want 2", n)
	}
}

func TestBuildEventRepeatedAfterRestartIsDuplicate(t *testing.T) {
	s := newStack(t)
	first := s.api.mustPostBuild("app-1", "build/triggered", buildBody(1), http.StatusAccepted)
	s.stop()

	again := newStack(t, func(c *service.Config) { c.Data, c.Log = s.cfg.Data, s.cfg.Log })
	a := postAtOnce(t, again.api, 20, "app-1", "build/triggered", buildBody(2))
	if a.data.Sequence <= first.data.Sequence {
		t.Fatalf("a new event after the restart at %d, want after %d", a.data.Sequence, first.data.Sequence)
	}
	for range 3 {
		dup := again.api.mustPostBuild("app-1", "build/triggered", buildBody(1), http.StatusOK)
		if dup.data.EventID != first.data.EventID || dup.data.Sequence != first.data.Sequence {
			t.Fatalf("a repeat after the restart answered %s, want the original %s", dup.body, first.body)
		}
	}
	if evs := again.loggedBuildEvents(); len(evs) != 2 {
		t.Fatalf("the log holds %d build events after the restart, want 2", len(evs))
	}
}

func TestBuildEventKeyIsAppTypeAndSlug(t *testing.T) {
	s := newStack(t)
	body := buildBody(1)
	trig := s.api.mustPostBuild("app-1", "build/triggered", body, http.StatusAccepted)
	fin := s.api.mustPostBuild("app-1", "build/finished", body, http.StatusAccepted)
	other := s.api.mustPostBuild("app-2", "build/finished", body, http.StatusAccepted)
	if trig.data.EventID == fin.data.EventID || fin.data.EventID == other.data.EventID {
		t.Fatalf("distinct events share an id: %s %s %s", trig.body, fin.body, other.body)
	}
	s.api.mustPostBuild("app-1", "build/finished", buildBody(2), http.StatusAccepted)
	// Another payload with the same slug is still the same build event.
	changed := buildBody(1)
	changed["build_status"] = 3
	dup := s.api.mustPostBuild("app-1", "build/finished", changed, http.StatusOK)
	if dup.data.EventID != fin.data.EventID {
		t.Fatalf("a repeat with another status answered %s, want %s", dup.body, fin.body)
	}
	if n := len(s.loggedBuildEvents()); n != 4 {
		t.Fatalf("the log holds %d build events, want 4", n)
	}
}

func TestIdempotencyKeyReplacesBuildSlug(t *testing.T) {
	s := newStack(t)
	const key = "ci-run-77/attempt"
	first := s.api.mustPostBuild("app-1", "build/finished", buildBody(1), http.StatusAccepted, "Idempotency-Key", key)
	// Same key and type, another slug: the same request.
	dup := s.api.mustPostBuild("app-1", "build/finished", buildBody(2), http.StatusOK, "Idempotency-Key", key)
	if dup.data.EventID != first.data.EventID || dup.data.Sequence != first.data.Sequence {
		t.Fatalf("a repeat of the key answered %s, want %s", dup.body, first.body)
	}
	// Same key, the other event type: another event (a client may use one
	// key, its build's, for both).
	triggered := s.api.mustPostBuild("app-1", "build/triggered", buildBody(1), http.StatusAccepted, "Idempotency-Key", key)
	if triggered.data.EventID == first.data.EventID {
		t.Fatalf("the key of a build/finished swallowed a build/triggered: %s", triggered.body)
	}
	// Same slug, other keys: distinct events, and not duplicates of the
	// slug's key either.
	a := s.api.mustPostBuild("app-1", "build/finished", buildBody(1), http.StatusAccepted, "Idempotency-Key", "other-1")
	b := s.api.mustPostBuild("app-1", "build/finished", buildBody(1), http.StatusAccepted, "Idempotency-Key", "other-2")
	plain := s.api.mustPostBuild("app-1", "build/finished", buildBody(1), http.StatusAccepted)
	if a.data.EventID == b.data.EventID || b.data.EventID == plain.data.EventID {
		t.Fatalf("distinct keys share an event: %s %s %s", a.body, b.body, plain.body)
	}
	// The same key in another app is another key.
	s.api.mustPostBuild("app-2", "build/finished", buildBody(1), http.StatusAccepted, "Idempotency-Key", key)
	// Concurrent repeats of one key log one event.
	postAtOnce(t, s.api, 20, "app-1", "build/finished", buildBody(9), "Idempotency-Key", "burst")

	evs := s.loggedBuildEvents()
	if len(evs) != 7 {
		t.Fatalf("the log holds %d build events, want 7", len(evs))
	}
	if evs[0].IdempotencyKey != key || evs[4].IdempotencyKey != "" {
		t.Fatalf("logged idempotency keys %q and %q, want %q as sent and none", evs[0].IdempotencyKey, evs[4].IdempotencyKey, key)
	}
}

func TestBadIdempotencyKeyIs400(t *testing.T) {
	s := newStack(t)
	for name, v := range map[string]string{
		"empty":     "",
		"too long":  strings.Repeat("k", 256),
		"tab":       "a\tb",
		"non-ASCII": "clé",
	} {
		a := s.api.mustPostBuild("app-1", "build/finished", buildBody(1), http.StatusBadRequest, "Idempotency-Key", v)
		if !strings.Contains(a.body, "Idempotency-Key") {
			t.Errorf("%s key: the 400 %s does not name Idempotency-Key", name, a.body)
		}
	}
	s.api.mustPostBuild("app-1", "build/finished", buildBody(1), http.StatusAccepted, "Idempotency-Key", strings.Repeat("k", 255))
	if n := len(s.loggedBuildEvents()); n != 1 {
		t.Fatalf("the log holds %d build events, want only the good key's", n)
	}
}
