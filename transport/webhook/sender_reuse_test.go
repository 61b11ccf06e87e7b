package webhook_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
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
			var accepted atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				gen.wait(r)
				_, _ = io.WriteString(w, "ok")
			}))
			srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
				if state == http.StateNew {
					accepted.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)

			cfg := c.cfg
			cfg.AllowPrivateTargets = true
			s := webhook.NewSender(cfg)
			gate := make(chan struct{}, inFlight)
			// Whether each send's connection went back to the pool, seen
			// through httptrace: the pool refusing it is the failure this
			// test is about; a connection never offered to it (net/http
			// closes one whose request write it did not see finish within
			// 50 ms, which a loaded machine can cause) is not, and the
			// connection dialled to replace it is allowed for.
			var refused, notOffered atomic.Int64
			var refusal atomic.Value
			for wave := range waves {
				var wg sync.WaitGroup
				failures := make(chan string, perWave)
				for range perWave {
					wg.Go(func() {
						gate <- struct{}{}
						defer func() { <-gate }()
						var offered atomic.Bool
						ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{PutIdleConn: func(err error) {
							offered.Store(true)
							if err != nil {
								refused.Add(1)
								refusal.Store(err.Error())
							}
						}})
						out := s.Send(ctx, domain.OutgoingRequest{URL: srv.URL, Body: []byte(`{}`)})
						if !offered.Load() {
							notOffered.Add(1)
						}
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
			if n := refused.Load(); n > 0 {
				t.Errorf("the idle pool refused %d connections (%v); want it to keep all %d", n, refusal.Load(), inFlight)
			}
			if n, lost := accepted.Load(), notOffered.Load(); n > inFlight+lost {
				t.Errorf("%d sends, at most %d at once: the receiver accepted %d connections, want at most %d (+%d not offered to the pool)",
					waves*perWave, inFlight, n, inFlight, lost)
			}
		})
	}
}
