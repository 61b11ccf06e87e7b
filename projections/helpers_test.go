package projections_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/projections"
)

// waitLimit bounds every wait for an asynchronous result; reaching it
// means a hang, not a slow machine.
const waitLimit = 15 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens the log in a fresh directory and closes it at cleanup.
func openStore(t *testing.T) *badgerlog.Store {
	t.Helper()
	s, err := badgerlog.Open(filepath.Join(t.TempDir(), "log"), badgerlog.Options{})
	if err != nil {
		t.Fatalf("badgerlog.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openViews opens a views database in dir; the caller closes it.
func openViews(t *testing.T, dir string) *projections.Views {
	t.Helper()
	v, err := projections.OpenViews(dir, nil)
	if err != nil {
		t.Fatalf("OpenViews(%s): %v", dir, err)
	}
	return v
}

// newViews opens views in a fresh directory, closed at cleanup.
func newViews(t *testing.T) *projections.Views {
	t.Helper()
	v := openViews(t, filepath.Join(t.TempDir(), "views"))
	t.Cleanup(func() { _ = v.Close() })
	return v
}

var msgCounter atomic.Int64

// encode turns domain events into messages with unique ids.
func encode(t *testing.T, evs ...domain.Event) []*message.Message {
	t.Helper()
	msgs := make([]*message.Message, len(evs))
	for i, ev := range evs {
		m, err := eventlog.EncodeEvent(fmt.Sprintf("msg-%08d", msgCounter.Add(1)), ev)
		if err != nil {
			t.Fatalf("EncodeEvent(%T): %v", ev, err)
		}
		msgs[i] = m
	}
	return msgs
}

// appendEvents appends evs as one group and returns the last sequence.
func appendEvents(t *testing.T, pub *eventlog.Publisher, evs ...domain.Event) uint64 {
	t.Helper()
	seqs, err := pub.Append(testContext(t), eventlog.Topic, encode(t, evs...)...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return seqs[len(seqs)-1]
}

// runner is a projections.Runner running in the background.
type runner struct {
	*projections.Runner
	cancel context.CancelFunc
	done   chan error
}

// startRunner runs a Runner from store into views until stop (or cleanup).
func startRunner(t *testing.T, store *badgerlog.Store, views *projections.Views) *runner {
	t.Helper()
	r, err := projections.NewRunner(store, views, nil)
	if err != nil {
		t.Fatalf("NewRunner: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runner{Runner: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() { rr.stop(t) })
	return rr
}

// stop cancels the runner and waits for Run to return; calling it again is a no-op.
func (r *runner) stop(t *testing.T) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Runner.Run returned %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Runner.Run did not return after its context was cancelled")
	}
	r.done = nil
}

// waitApplied waits until the runner's views reflect seq.
func (r *runner) waitApplied(t *testing.T, seq uint64) {
	t.Helper()
	if err := r.WaitFor(testContext(t), seq); err != nil {
		t.Fatalf("WaitFor(%d): %v (applied %d)", seq, err, r.Applied())
	}
}

// kv is one key and value of a views database.
type kv struct{ k, v []byte }

// dump returns every key and value of the views database in key order.
func dump(t *testing.T, v *projections.Views) []kv {
	t.Helper()
	var out []kv
	err := v.DB().View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			val, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, kv{it.Item().KeyCopy(nil), val})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("dump views: %v", err)
	}
	return out
}

// assertSameViews fails unless want and got hold the same keys and values.
func assertSameViews(t *testing.T, what string, want, got []kv) {
	t.Helper()
	for i := 0; i < len(want) && i < len(got); i++ {
		if !bytes.Equal(want[i].k, got[i].k) {
			t.Fatalf("%s: key #%d differs:\nwant %q\ngot  %q", what, i, want[i].k, got[i].k)
		}
		if !bytes.Equal(want[i].v, got[i].v) {
			t.Fatalf("%s: value of key %q differs:\nwant %q\ngot  %q", what, want[i].k, want[i].v, got[i].v)
		}
	}
	if len(want) != len(got) {
		t.Fatalf("%s: %d keys, want %d", what, len(got), len(want))
	}
}

func checkpoint(t *testing.T, v *projections.Views) uint64 {
	t.Helper()
	cp, err := v.Checkpoint()
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	return cp
}

// readLog returns every entry of the log.
func readLog(t *testing.T, store *badgerlog.Store) []eventlog.Entry {
	t.Helper()
	var out []eventlog.Entry
	r := eventlog.NewReader(store, eventlog.Topic, 1)
	for r.Next(testContext(t)) {
		out = append(out, r.Entry())
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Reader: %v", err)
	}
	return out
}

// history generates a random but reproducible stream of domain events
// shaped like real use: hooks created, reconfigured and removed across
// apps, build events, attempts (some repeated, some redeliveries) and
// redelivery requests.
type history struct {
	r        *rand.Rand
	now      time.Time
	n        int
	apps     []string
	live     []hookRef // configured and not removed
	hooks    []hookRef // every hook ever configured
	builds   []domain.BuildEventReceived
	attempts []domain.DeliveryAttempted
	tokens   []string // ids issued
}

type hookRef struct{ slug, app string }

func newHistory(seed uint64) *history {
	return &history{
		r:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:  time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		apps: []string{"app-alpha", "app-beta", "app-gamma", "app-delta"},
	}
}

// events returns the next n events.
func (h *history) events(n int) []domain.Event {
	out := make([]domain.Event, n)
	for i := range out {
		out[i] = h.next()
	}
	return out
}

func (h *history) next() domain.Event {
	if h.r.IntN(60) == 0 {
		return h.tokenEvent()
	}
	p := h.r.IntN(100)
	switch {
	case len(h.live) == 0 || p < 7:
		return h.createHook()
	case p < 13:
		return h.reconfigureHook()
	case p < 16:
		return h.removeHook()
	case len(h.builds) == 0 || p < 40:
		return h.buildEvent()
	case len(h.attempts) > 0 && p < 46:
		return h.redeliveryRequested()
	case len(h.attempts) > 0 && p < 51:
		return h.duplicateAttempt()
	case p < 58:
		return h.deliveryRequested()
	default:
		return h.attempt()
	}
}

// tokenEvent issues a token, or revokes one (issued, revoked already, or
// never issued).
func (h *history) tokenEvent() domain.Event {
	if len(h.tokens) == 0 || h.r.IntN(3) > 0 {
		id := h.id("token")
		h.tokens = append(h.tokens, id)
		var exp *time.Time
		if h.r.IntN(2) == 0 {
			at := h.now.Add(time.Hour)
			exp = &at
		}
		return domain.TokenIssued{TokenID: id, Name: "name-" + id, Scopes: []string{domain.ScopeAppsRead}, Apps: []string{h.apps[h.r.IntN(len(h.apps))]},
			TokenSHA256: fmt.Sprintf("%064x", h.r.Uint64()), IssuedAt: h.tick(), ExpiresAt: exp, Actor: h.pickActor()}
	}
	id := h.tokens[h.r.IntN(len(h.tokens))]
	if h.r.IntN(5) == 0 {
		id = h.id("never-issued")
	}
	return domain.TokenRevoked{TokenID: id, RevokedAt: h.tick(), Actor: h.pickActor()}
}

// pickActor is who made a change: nil (logged before actors were), the
// bootstrap token or an issued one.
func (h *history) pickActor() *domain.Actor {
	switch h.r.IntN(3) {
	case 0:
		return nil
	case 1:
		return &domain.Actor{TokenID: domain.BootstrapID, TokenName: domain.BootstrapID}
	default:
		return &domain.Actor{TokenID: fmt.Sprintf("token-%d", h.r.IntN(5)), TokenName: fmt.Sprintf("user-%d", h.r.IntN(5))}
	}
}

func (h *history) id(prefix string) string {
	h.n++
	return fmt.Sprintf("%s-%05d-%08x", prefix, h.n, h.r.Uint32())
}

func (h *history) tick() time.Time {
	h.now = h.now.Add(time.Duration(1+h.r.IntN(3000))*time.Millisecond + time.Duration(h.r.IntN(1000)))
	return h.now
}

func (h *history) pickEvents() []string {
	choices := [][]string{
		{domain.SelectAll}, {domain.SelectBuild}, {domain.EventBuildTriggered},
		{domain.EventBuildFinished}, {domain.EventBuildTriggered, domain.EventBuildFinished},
	}
	return choices[h.r.IntN(len(choices))]
}

func (h *history) pickHeaders() map[string]string {
	switch h.r.IntN(3) {
	case 0:
		return map[string]string{}
	case 1:
		return map[string]string{"X-Team": fmt.Sprintf("team-%d", h.r.IntN(9))}
	default:
		return map[string]string{"Authorization": "Bearer " + h.id("tok"), "X-Env": "prod"}
	}
}

// pickSecret returns nil (no secret on create, unchanged on reconfigure),
// a new sealed secret (opaque to the views), or "" (cleared).
func (h *history) pickSecret() *string {
	var s string
	switch h.r.IntN(3) {
	case 0:
		return nil
	case 1:
		s = "v1:" + h.id("sealed")
	default:
		s = "" // cleared
	}
	return &s
}

// pickPreviousUntil returns, for a reconfiguration, nil or a deadline for
// the replaced secret, as a PUT during a rotation gives.
func (h *history) pickPreviousUntil() *time.Time {
	if h.r.IntN(2) == 0 {
		return nil
	}
	until := h.now.Add(24 * time.Hour)
	return &until
}

func (h *history) createHook() domain.Event {
	ref := hookRef{slug: h.id("hook"), app: h.apps[h.r.IntN(len(h.apps))]}
	h.live = append(h.live, ref)
	h.hooks = append(h.hooks, ref)
	return domain.HookConfigured{
		HookSlug: ref.slug, AppSlug: ref.app, URL: "https://receiver.example/" + ref.slug,
		Events: h.pickEvents(), Headers: h.pickHeaders(), SealedSecret: h.pickSecret(), ConfiguredAt: h.tick(),
		Actor: h.pickActor(),
	}
}

func (h *history) reconfigureHook() domain.Event {
	ref := h.live[h.r.IntN(len(h.live))]
	return domain.HookConfigured{
		HookSlug: ref.slug, AppSlug: ref.app, URL: fmt.Sprintf("https://receiver.example/%s/v%d", ref.slug, h.r.IntN(100)),
		Events: h.pickEvents(), Headers: h.pickHeaders(), SealedSecret: h.pickSecret(),
		PreviousSecretValidUntil: h.pickPreviousUntil(), ConfiguredAt: h.tick(), Actor: h.pickActor(),
	}
}

func (h *history) removeHook() domain.Event {
	if h.r.IntN(10) == 0 {
		// Removing a hook the views never saw changes nothing.
		return domain.HookRemoved{HookSlug: h.id("ghost"), AppSlug: h.apps[0], RemovedAt: h.tick()}
	}
	i := h.r.IntN(len(h.live))
	ref := h.live[i]
	h.live = append(h.live[:i:i], h.live[i+1:]...)
	return domain.HookRemoved{HookSlug: ref.slug, AppSlug: ref.app, RemovedAt: h.tick(), Actor: h.pickActor()}
}

func (h *history) buildEvent() domain.Event {
	app := h.apps[h.r.IntN(len(h.apps))]
	types := []string{domain.EventBuildTriggered, domain.EventBuildFinished}
	b := domain.BuildPayload{
		BuildSlug: h.id("build"), BuildNumber: int64(h.r.IntN(100000)), AppSlug: app,
		BuildStatus: int64(h.r.IntN(4)), BuildTriggeredWorkflow: "primary",
		Git: domain.GitInfo{Provider: "github", SrcBranch: "main"},
	}
	if h.r.IntN(3) == 0 {
		pr := int64(h.r.IntN(500))
		b.Git.DstBranch, b.Git.PullRequestID = "develop", &pr
	}
	ev := domain.BuildEventReceived{
		EventID: h.id("event"), AppSlug: app, EventType: types[h.r.IntN(2)], Build: b, ReceivedAt: h.tick(),
		Actor: h.pickActor(),
	}
	h.builds = append(h.builds, ev)
	return ev
}

func (h *history) attempt() domain.Event {
	// Mostly recent build events, sometimes old ones.
	b := h.builds[len(h.builds)-1-h.r.IntN(min(len(h.builds), 20))]
	if h.r.IntN(10) == 0 {
		b = h.builds[h.r.IntN(len(h.builds))]
	}
	ref := h.hooks[h.r.IntN(len(h.hooks))]
	hook := domain.Hook{Slug: ref.slug, AppSlug: ref.app, URL: "https://receiver.example/" + ref.slug, Headers: h.pickHeaders()}
	var secrets domain.SigningSecrets
	switch h.r.IntN(3) {
	case 0:
		secrets.Current = "s3cret"
	case 1:
		secrets = domain.SigningSecrets{Current: "s3cret-new", Previous: "s3cret"}
	}
	deliveryID, attemptedAt := h.id("delivery"), h.tick()
	ev := domain.DeliveryAttempted{
		DeliveryID: deliveryID, HookSlug: ref.slug, AppSlug: ref.app, BuildEventID: b.EventID,
		EventType: b.EventType, Request: domain.BuildRequest(hook, b.EventType, b.Build.Body(), deliveryID, attemptedAt, secrets),
		DurationMS: int64(h.r.IntN(12000)), AttemptedAt: attemptedAt,
	}
	if h.r.IntN(6) == 0 {
		var earlier []string
		for _, a := range h.attempts {
			if a.HookSlug == ref.slug {
				earlier = append(earlier, a.DeliveryID)
			}
		}
		if len(earlier) > 0 {
			ev.RedeliveryOf = earlier[h.r.IntN(len(earlier))]
		}
	}
	h.outcome(&ev)
	h.attempts = append(h.attempts, ev)
	return ev
}

// outcome fills in a response or a transport error.
func (h *history) outcome(ev *domain.DeliveryAttempted) {
	ev.Response, ev.Error = nil, ""
	switch h.r.IntN(10) {
	case 0:
		ev.Error = "timeout: no complete response within 10s"
	case 1:
		ev.Error = "connection refused"
	default:
		statuses := []int{200, 201, 202, 204, 302, 400, 404, 500, 503}
		body := fmt.Sprintf(`{"ok":%t,"n":%d}`, h.r.IntN(2) == 0, h.r.IntN(1000))
		truncated := false
		if h.r.IntN(15) == 0 {
			body = string(bytes.Repeat([]byte("x"), 500+h.r.IntN(3000)))
			truncated = h.r.IntN(2) == 0
		}
		ev.Response = &domain.Response{
			Status:    statuses[h.r.IntN(len(statuses))],
			Headers:   map[string][]string{"Content-Type": {"application/json"}, "X-Request-Id": {h.id("req")}, "Set-Cookie": {"a=1", "b=2"}},
			Body:      body,
			Truncated: truncated,
		}
	}
}

// duplicateAttempt records a second attempt of an already recorded
// delivery id (a pair in flight at a crash): the views keep the first.
func (h *history) duplicateAttempt() domain.Event {
	ev := h.attempts[h.r.IntN(len(h.attempts))]
	ev.AttemptedAt = h.tick()
	ev.DurationMS = int64(h.r.IntN(100))
	h.outcome(&ev)
	return ev
}

func (h *history) redeliveryRequested() domain.Event {
	a := h.attempts[h.r.IntN(len(h.attempts))]
	return domain.RedeliveryRequested{
		DeliveryID: h.id("redelivery"), OriginalDeliveryID: a.DeliveryID, HookSlug: a.HookSlug, AppSlug: a.AppSlug,
		BuildEventID: a.BuildEventID, EventType: a.EventType, Payload: a.Request.Body, RequestedAt: h.tick(),
		Actor: h.pickActor(),
	}
}

// deliveryRequested records the matcher's decision that a recent build
// event goes to a hook; the attempt that follows (often) uses its id.
func (h *history) deliveryRequested() domain.Event {
	b := h.builds[len(h.builds)-1-h.r.IntN(min(len(h.builds), 5))]
	ref := h.hooks[h.r.IntN(len(h.hooks))]
	return domain.DeliveryRequested{
		DeliveryID: domain.DeliveryID(b.EventID, ref.slug), HookSlug: ref.slug, AppSlug: ref.app,
		BuildEventID: b.EventID, BuildEventSeq: uint64(h.r.IntN(2)), RequestedAt: h.tick(), Actor: domain.ServiceActor(),
	}
}
