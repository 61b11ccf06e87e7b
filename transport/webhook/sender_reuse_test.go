package webhook_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/transport/webhook"
)

// generation lets requests through in groups of size: each waits until
// size are waiting, so a group is size requests in flight at once on
// size connections, and dials cannot race idle connections.
type generation struct {
	size    int
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

func newGeneration(size int) *generation {
	return &generation{size: size, release: make(chan struct{})}
}

func (g *generation) wait(r *http.Request) {
	g.mu.Lock()
	release := g.release
	g.waiting++
	if g.waiting == g.size {
		close(release)
		g.release, g.waiting = make(chan struct{}), 0
	}
	g.mu.Unlock()
	select {
	case <-release:
	case <-r.Context().Done():
	}
}

func TestSenderReusesConnectionsUpToMaxIdlePerHost(t *testing.T) {
	const (
		inFlight = 32 // sends at once, as the dispatcher's per-host limit would allow
		waves    = 5
		perWave  = 64
	)
	for _, c := range []struct {
		name string
		cfg  webhook.SenderConfig
	}{
		{"default total", webhook.SenderConfig{MaxIdlePerHost: inFlight}},
		{"a smaller total is raised to the per-host pool", webhook.SenderConfig{MaxIdlePerHost: inFlight, MaxIdleConns: 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			gen := newGeneration(inFlight)
			var accepted, closed atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				gen.wait(r)
				_, _ = io.WriteString(w, "ok")
			}))
			srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
				if state == http.StateNew {
					accepted.Add(1)
				}
				if state == http.StateClosed || state == http.StateHijacked {
					closed.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)

			cfg := c.cfg
			cfg.AllowPrivateTargets = true
			s := webhook.NewSender(cfg)
			gate := make(chan struct{}, inFlight)
			for wave := range waves {
				var wg sync.WaitGroup
				failures := make(chan string, perWave)
				for range perWave {
					wg.Go(func() {
						gate <- struct{}{}
						defer func() { <-gate }()
						out := s.Send(t.Context(), domain.OutgoingRequest{URL: srv.URL, Body: []byte(`{}`)})
						if out.Error != "" || out.Response == nil || out.Response.Status != http.StatusOK {
							failures <- out.Error
						}
					})
				}
				wg.Wait()
				close(failures)
				for f := range failures {
					t.Fatalf("wave %d: a send failed: %q", wave, f)
				}
			}
			t.Logf("accepted %d closed %d", accepted.Load(), closed.Load())
			if n := accepted.Load(); n > inFlight {
				t.Errorf("%d sends, at most %d at once: the receiver accepted %d connections, want at most %d",
					waves*perWave, inFlight, n, inFlight)
			}
		})
	}
}
