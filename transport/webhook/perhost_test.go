package webhook_test

import (
	"fmt"
	"maps"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/transport/webhook"
)

// gauge counts requests in progress and remembers the most at once.
type gauge struct {
	mu       sync.Mutex
	now, max int
}

func (g *gauge) enter() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now++
	g.max = max(g.max, g.now)
}

func (g *gauge) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now--
}

func (g *gauge) read() (now, most int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.now, g.max
}

// Two hooks on one receiver that never answers share its per-host limit:
// together they hold at most PerHost workers, and a third hook on another
// receiver gets every event while they hang. (With a per-hook limit the
// two would hold all the workers between them.)
func TestHooksSharingAHangingHostShareItsLimitAndOthersGetEverything(t *testing.T) {
	const workers, perHost, n = 8, 4, 20
	e := newLogEnv(t)
	release := make(chan struct{})
	var inFlight gauge
	hanging := testkit.NewReceiver(t)
	hanging.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		inFlight.enter()
		defer inFlight.leave()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	released := false
	releaseAll := func() {
		if !released {
			released = true
			close(release)
		}
	}
	t.Cleanup(releaseAll)
	fast := testkit.NewReceiver(t)

	e.append(
		hookConfigured("app-1", "h-a1", hanging.URL()+"/one"),
		hookConfigured("app-1", "h-a2", hanging.URL()+"/two"),
		hookConfigured("app-1", "h-b", fast.URL()),
	)
	sender := webhook.NewSender(webhook.SenderConfig{Timeout: 5 * time.Second, AllowPrivateTargets: true})
	startDispatcherWith(e, sender, webhook.DispatcherConfig{Workers: workers, PerHost: perHost})
	var want []string
	for i := range n {
		id := fmt.Sprintf("e%02d", i)
		want = append(want, id)
		e.append(buildEvent("app-1", id))
	}

	testkit.WaitUntil(t, waitLimit, fmt.Sprintf("hook B's receiver to get all %d events", n), func() bool { return fast.Count() >= n })
	testkit.WaitUntil(t, waitLimit, "the hanging receiver to hold its share of workers", func() bool {
		now, _ := inFlight.read()
		return now == perHost
	})
	for _, a := range e.attempts() {
		if a.HookSlug != "h-b" {
			t.Fatalf("an attempt to the hanging host (%s to %s, error %q) was recorded before B had all %d events: the hanging host held up B",
				a.BuildEventID, a.HookSlug, a.Error, n)
		}
	}
	if _, most := inFlight.read(); most > perHost {
		t.Errorf("the hanging host had %d requests in flight at once, want at most %d (PerHost) for both its hooks together", most, perHost)
	}

	releaseAll()
	e.waitAttempts(3 * n)
	e.waitCaughtUp()
	wantPairs := map[pair]int{}
	for _, id := range want {
		for _, h := range []string{"h-a1", "h-a2", "h-b"} {
			wantPairs[pair{id, h}] = 1
		}
	}
	if got := pairs(e.attempts()); !maps.Equal(got, wantPairs) {
		t.Errorf("attempts per (event, hook) %v, want one for each of %d events to each of 3 hooks", got, n)
	}
	if _, most := inFlight.read(); most > perHost {
		t.Errorf("the hanging host had %d requests in flight at once, want at most %d", most, perHost)
	}
	assertEvents(t, "hook B", fast, want...)
	if got := hanging.Count(); got != 2*n {
		t.Errorf("the hanging host got %d requests, want %d (each event once per hook)", got, 2*n)
	}
}
