package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// benchSecretKey is the HOOKD_SECRET_KEY of every hookd process on a
// shared log: they must all have the same one to open each other's sealed
// hook secrets. A fixed test key (32 bytes), never used outside the bench.
var benchSecretKey = base64.StdEncoding.EncodeToString([]byte("hookbench-shared-key-for-testing"))

// fleet is the hookd processes of one delivery run, and the nats-server
// they share (nil on the embedded log).
type fleet struct {
	procs []*hookdProc
	nats  *natsProc

	// On JetStream: a plain publish's round trip on the same nats-server
	// (probeJetStream), in ms; probeErr if it could not be measured.
	probeP50, probeP99 float64
	probeErr           error
}

// deliveryTarget is one log backend a delivery scenario runs on.
type deliveryTarget struct {
	name  string // the row's name
	procs int    // hookd processes
	start func(context.Context) (*fleet, error)
}

// deliveryTargets are the runs of the delivery scenario name, in order:
// the embedded log, then JetStream with each --nats-processes count.
func (b *bench) deliveryTargets(name, dirName string) []deliveryTarget {
	var out []deliveryTarget
	for _, backend := range b.cfg.logBackends {
		switch backend {
		case "badger":
			out = append(out, deliveryTarget{name: name, procs: 1, start: func(ctx context.Context) (*fleet, error) {
				p, err := b.hookdServe(ctx, dirName)
				if err != nil {
					return nil, err
				}
				return &fleet{procs: []*hookdProc{p}}, nil
			}})
		case "nats":
			for _, n := range b.cfg.natsProcesses {
				out = append(out, deliveryTarget{name: jetStreamRowName(name, n), procs: n, start: func(ctx context.Context) (*fleet, error) {
					return b.startJetStream(ctx, dirName+"-js"+strconv.Itoa(n), n)
				}})
			}
		}
	}
	return out
}

func jetStreamRowName(name string, n int) string {
	if n == 1 {
		return name + " (JetStream, 1 process)"
	}
	return fmt.Sprintf("%s (JetStream, %d processes)", name, n)
}

// startJetStream starts a nats-server on a fresh store and n hookd serve
// processes on it, each with its own data directory, the same secret key
// and the configured send limits (per process). On an error it stops what
// it started.
func (b *bench) startJetStream(ctx context.Context, dirName string, n int) (*fleet, error) {
	bin, err := b.natsServerBin(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := b.scenarioDir(dirName)
	if err != nil {
		return nil, err
	}
	f := &fleet{}
	if f.nats, err = startNATS(ctx, bin, dir+"/nats"); err != nil {
		return nil, err
	}
	f.probeP50, f.probeP99, f.probeErr = probeJetStream(ctx, f.nats.url)
	if f.probeErr == nil {
		b.logf("nats-server %s: a plain JetStream publish, one at a time, takes p50 %.2f ms, p99 %.2f ms", f.nats.url, f.probeP50, f.probeP99)
	}
	for i := range n {
		p, err := startServeEnv(ctx, b.cfg.hookd, fmt.Sprintf("%s/hookd-%d", dir, i+1), b.hookdEcho(),
			[]string{"HOOKD_SECRET_KEY=" + benchSecretKey},
			"--log", f.nats.url,
			"--max-in-flight", strconv.Itoa(b.cfg.maxInFlight), "--max-per-host", strconv.Itoa(b.cfg.maxPerHost))
		if err != nil {
			f.kill()
			return nil, fmt.Errorf("hookd process %d of %d: %w", i+1, n, err)
		}
		f.procs = append(f.procs, p)
	}
	return f, nil
}

// pids lists the processes for the progress log.
func (f *fleet) pids() string {
	var s []string
	for _, p := range f.procs {
		s = append(s, strconv.Itoa(p.pid()))
	}
	out := "hookd pid " + strings.Join(s, ", ")
	if f.nats != nil {
		out += fmt.Sprintf("; nats-server pid %d", f.nats.pid())
	}
	return out
}

// kill ends every process at once; safe after stop.
func (f *fleet) kill() {
	for _, p := range f.procs {
		p.kill()
	}
	if f.nats != nil {
		f.nats.kill()
	}
}

// stop stops the hookd processes together (SIGTERM, as an operator would),
// then the nats-server they shared.
func (f *fleet) stop() error {
	errs := make([]error, len(f.procs))
	var wg sync.WaitGroup
	for i, p := range f.procs {
		if f.nats != nil {
			// A clean stop on JetStream releases the matcher lease and
			// closes the NATS connection, which hookd logs as warnings.
			p.expect(isJetStreamShutdownLine)
		}
		wg.Go(func() {
			if err := p.stop(); err != nil {
				errs[i] = fmt.Errorf("hookd process %d: %w", i+1, err)
			}
		})
	}
	wg.Wait()
	if f.nats != nil {
		errs = append(errs, f.nats.stop())
	}
	return errors.Join(errs...)
}

// isJetStreamShutdownLine is true for the warnings a hookd on JetStream
// logs when it stops cleanly: the matcher lease released, the connection
// to NATS closed.
func isJetStreamShutdownLine(line string) bool {
	return (strings.Contains(line, `"lease lost"`) && strings.Contains(line, `"why":"released"`)) ||
		strings.Contains(line, `"disconnected from NATS`)
}

// waitHooksServed waits until every process answers 200 for every hook
// (its views caught up with the hooks made through the first), or stall.
func (f *fleet) waitHooksServed(ctx context.Context, c *http.Client, app string, slugs []string, stall time.Duration) error {
	deadline := time.Now().Add(stall)
	for i, p := range f.procs {
		for _, slug := range slugs {
			for {
				code, err := getStatus(ctx, c, p.base+"/v0.1/apps/"+app+"/outgoing-webhooks/"+slug)
				if err == nil && code == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("hookd process %d does not serve hook %s after %s (status %d, %v)", i+1, slug, stall, code, err)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	}
	return nil
}

func getStatus(ctx context.Context, c *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
