package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/badgerdb"
)

// genSpec describes a generated history: apps with hooks, then build
// events (round robin over the apps), each followed by one delivery
// attempt per hook of its app (with requests, first one delivery request
// per hook), as hookd itself would have logged them.
type genSpec struct {
	apps        int
	hooksPerApp int
	events      int // entries in all; the last group may be cut short unless wholeGroups
	secretEvery int // every secretEvery-th hook has a secret (0: none)
	// noBuilds leaves the build events out (the attempts still name them):
	// the views never read them, and the log is half as long to write,
	// rebuild and scan at start-up. It leaves the requests out too.
	noBuilds bool
	// requests logs, right after each build event, one delivery.requested
	// per hook of its app (what hookd's matcher appends), before the
	// attempts. The generated log must then start empty: a request names
	// its build event's sequence.
	requests bool
	// wholeGroups ends the log before a build event whose requests and
	// attempts would not all fit in events: every logged build event was
	// handled, as in the log of a server that finished its work.
	wholeGroups bool
	// hookURL, if set, is hook j's URL (j counts all hooks from 0); the
	// default is an https URL under hooks.example.com, which nothing may
	// send to: set it to a local receiver for a log hookd serve runs on.
	hookURL func(app string, j int) string
}

type genHook struct {
	hook   domain.Hook
	secret string
}

type genLog struct {
	apps     []string
	hooks    [][]genHook // by app
	events   int
	builds   int // build events among events
	requests int // delivery.requested among events
	attempts int // delivery.attempted among events
}

// genBatchEntries caps the entries handed to one Store.Append; their
// bytes stay within badgerdb.MaxTxnBytes, one Badger transaction.
const genBatchEntries = 4096

// genCost overestimates what an entry adds to the log's transaction: the
// stored header (hashes, time, UUID, metadata) is under 200 bytes.
func genCost(msg eventlog.AppendMessage) int {
	return badgerdb.TxnCost(len(eventlog.Topic)+10, len(msg.Payload)+len(msg.UUID)+200)
}

// generateLog appends the history spec describes to store, in big batches
// (the encoding runs beside the appending).
func generateLog(ctx context.Context, store *badgerlog.Store, spec genSpec, progress func(done int)) (genLog, error) {
	g := genLog{}
	batches := make(chan []eventlog.AppendMessage, 4)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	encErr := make(chan error, 1)
	go func() {
		defer close(batches)
		encErr <- g.encode(ctx, spec, batches)
	}()
	for batch := range batches {
		seqs, err := store.Append(ctx, eventlog.Topic, batch...)
		if err == nil && spec.requests && !spec.noBuilds && (len(seqs) != len(batch) || seqs[0] != uint64(g.events+1)) {
			// The requests name sequences counted from an empty log.
			err = fmt.Errorf("the log was not empty: generated entry %d got sequences %v", g.events+1, seqs[:min(1, len(seqs))])
		}
		if err != nil {
			cancel()
			for range batches {
			}
			return g, fmt.Errorf("append generated events: %w", err)
		}
		g.events += len(batch)
		if progress != nil {
			progress(g.events)
		}
	}
	if err := <-encErr; err != nil {
		return g, err
	}
	return g, ctx.Err()
}

// encode makes the events and sends them in batches; it runs alone.
func (g *genLog) encode(ctx context.Context, spec genSpec, out chan<- []eventlog.AppendMessage) error {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var batch []eventlog.AppendMessage
	bytes, written := 0, 0
	send := func() error {
		select {
		case out <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
		batch, bytes = make([]eventlog.AppendMessage, 0, genBatchEntries), 0
		return nil
	}
	emit := func(ev domain.Event) error {
		msg, err := eventlog.EncodeEvent(uuid.NewString(), ev)
		if err != nil {
			return err
		}
		am := eventlog.AppendMessage{UUID: msg.UUID, Metadata: msg.Metadata, Payload: msg.Payload}
		if len(batch) > 0 && bytes+genCost(am) > badgerdb.MaxTxnBytes() {
			if err := send(); err != nil {
				return err
			}
		}
		batch = append(batch, am)
		bytes += genCost(am)
		written++
		if len(batch) >= genBatchEntries {
			return send()
		}
		return nil
	}
	n := 0
	for a := range spec.apps {
		app := fmt.Sprintf("app-%04d-%s", a, randHex(rng, 6))
		g.apps = append(g.apps, app)
		var hooks []genHook
		for j := range spec.hooksPerApp {
			n++
			url := fmt.Sprintf("https://hooks.example.com/bitrise/%s/%d", app, j)
			if spec.hookURL != nil {
				url = spec.hookURL(app, n-1)
			}
			h := genHook{hook: domain.Hook{
				Slug: uuid.NewString(), AppSlug: app, URL: url,
				Events: []string{domain.SelectAll}, Headers: map[string]string{"X-Team": "mobile", "X-Env": "production"},
			}}
			ev := domain.HookConfigured{HookSlug: h.hook.Slug, AppSlug: app, URL: h.hook.URL, Events: h.hook.Events,
				Headers: h.hook.Headers, ConfiguredAt: base}
			if spec.secretEvery > 0 && n%spec.secretEvery == 0 {
				// The views only note that a secret exists; the log never
				// holds one in clear, so a stand-in sealed value does.
				h.secret = "bench-secret-" + randHex(rng, 8)
				sealed := base64.RawStdEncoding.EncodeToString([]byte(randHex(rng, 30)))
				ev.SealedSecret = &sealed
			}
			hooks = append(hooks, h)
			if err := emit(ev); err != nil {
				return err
			}
		}
		g.hooks = append(g.hooks, hooks)
	}
	requests := spec.requests && !spec.noBuilds
	for i := 0; written < spec.events; i++ {
		a := i % spec.apps
		app := g.apps[a]
		if spec.wholeGroups {
			group := len(g.hooks[a])
			if requests {
				group *= 2
			}
			if !spec.noBuilds {
				group++
			}
			if written+group > spec.events {
				break
			}
		}
		at := base.Add(time.Duration(i) * 50 * time.Millisecond)
		pr := int64(rng.IntN(900) + 1)
		build := domain.BuildPayload{
			BuildSlug: randHex(rng, 8) + "-" + strconv.Itoa(i), BuildNumber: int64(i/spec.apps + 1), AppSlug: app,
			BuildStatus: int64(1 + rng.IntN(3)), BuildTriggeredWorkflow: "primary",
			Git: domain.GitInfo{Provider: "github", SrcBranch: "feature/change-" + strconv.Itoa(int(pr)), DstBranch: "main", PullRequestID: &pr},
		}
		eventID := uuid.NewString()
		if !spec.noBuilds {
			// On an empty log, the entry written next gets sequence written+1.
			seq := uint64(written + 1)
			if err := emit(domain.BuildEventReceived{EventID: eventID, AppSlug: app, EventType: domain.EventBuildFinished, Build: build, ReceivedAt: at}); err != nil {
				return err
			}
			g.builds++
			for _, h := range g.hooks[a] {
				if !requests || written >= spec.events {
					break
				}
				ev := domain.DeliveryRequested{DeliveryID: domain.DeliveryID(eventID, h.hook.Slug), HookSlug: h.hook.Slug,
					AppSlug: app, BuildEventID: eventID, BuildEventSeq: seq, RequestedAt: at.Add(time.Millisecond)}
				if err := emit(ev); err != nil {
					return err
				}
				g.requests++
			}
		}
		body := build.Body()
		for _, h := range g.hooks[a] {
			if written >= spec.events {
				break
			}
			id := domain.DeliveryID(eventID, h.hook.Slug)
			sent := at.Add(2 * time.Millisecond)
			ev := domain.DeliveryAttempted{
				DeliveryID: id, HookSlug: h.hook.Slug, AppSlug: app, BuildEventID: eventID, EventType: domain.EventBuildFinished,
				Request: domain.BuildRequest(h.hook, domain.EventBuildFinished, body, id, sent, domain.SigningSecrets{Current: h.secret}),
			}
			ev.DurationMS = int64(5 + rng.IntN(200))
			switch k := rng.IntN(100); {
			case k == 0:
				ev.Error = "connection refused"
			case k < 3:
				ev.Response = &domain.Response{Status: 500, Body: `{"error":"upstream unavailable, try again later"}`,
					Headers: map[string][]string{"Content-Type": {"application/json"}, "Date": {sent.Format(http.TimeFormat)}, "Content-Length": {"48"}}}
			default:
				ev.Response = &domain.Response{Status: 200, Body: "ok",
					Headers: map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}, "Date": {sent.Format(http.TimeFormat)}, "Content-Length": {"2"}}}
			}
			ev.AttemptedAt = sent.Add(time.Duration(ev.DurationMS) * time.Millisecond)
			if err := emit(ev); err != nil {
				return err
			}
			g.attempts++
		}
	}
	if len(batch) > 0 {
		return send()
	}
	return nil
}

// describe notes in r what the generated log holds.
func (g genLog) describe(r *result) {
	r.extra("log_build_events", g.builds)
	r.extra("log_delivery_requested", g.requests)
	r.extra("log_delivery_attempted", g.attempts)
}

func randHex(rng *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[rng.IntN(16)]
	}
	return string(b)
}
