package webhook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

// ConsumerGroup names the dispatcher's position (in metrics and /readyz).
const ConsumerGroup = "dispatcher"

// DeliveryID is the id of the first delivery item of a build event to a hook.
func DeliveryID(buildEventID, hookSlug string) string {
	return domain.DeliveryID(buildEventID, hookSlug)
}

// SecretOpener decrypts sealed hook secrets; *sealer.Sealer is one.
type SecretOpener interface {
	Open(sealed, context string) (string, error)
}

// DispatcherConfig configures a Dispatcher.
type DispatcherConfig struct {
	// Secrets opens sealed hook secrets to sign deliveries. Without it,
	// deliveries of hooks with a secret are recorded as not sent.
	Secrets SecretOpener
	// Workers is how many deliveries are sent at once. Default 64.
	Workers int
	// PerHost is how many deliveries to one receiver address (the IP and
	// port dialled, shared by every hook and host name pointing there) are
	// sent at once, so a slow or hanging receiver holds at most that many
	// workers and the rest keep serving other receivers. Default 8, but
	// no more than Workers/8 (at least 1); never more than Workers.
	PerHost int
	// MaxWaiting bounds the deliveries waiting for their receivers, which
	// cost about 100 bytes each whatever their payload (the payload stays
	// in the log). When that many wait, reading the log waits too, and a
	// warning says so. Default 1,000,000.
	MaxWaiting int
	Logger     *slog.Logger
	// Observer, if set, is told when each delivery starts and finishes
	// (for metrics). Default: none.
	Observer Observer
	// Sharing, if set, makes this dispatcher one of several processes
	// sharing the log (see Sharing). Nil: the log is this process's alone.
	Sharing *Sharing
	// SaveEvery is how often, at most, the dispatcher saves its position
	// while the log keeps moving (it also saves when the log goes idle and
	// when it stops). Default 1 s.
	SaveEvery time.Duration
}

// Observer watches deliveries; *metrics.Metrics is one. Its methods are
// called from the sending workers, concurrently.
type Observer interface {
	// DeliveryStarted: a worker took a delivery.
	DeliveryStarted()
	// DeliveryFinished: the delivery was sent (or found unsendable) and its
	// recording ended; status is the response's (0 for none), err the
	// delivery's error ("" for none), d the time spent sending.
	DeliveryFinished(eventType string, status int, err string, d time.Duration)
}

type noObserver struct{}

func (noObserver) DeliveryStarted()                                    {}
func (noObserver) DeliveryFinished(string, int, string, time.Duration) {}

// Dispatcher matches and sends, driven by the log alone.
//
// The matcher half reads the log in order, keeps the hooks as of each
// entry, and for each build event appends one delivery.requested per hook
// that wants it: the decision is a logged fact. The sending half queues
// every delivery.requested, redelivery.requested and
// test_delivery.requested (one hook's test, never matched) it reads as a
// small reference, per receiver, and a pool of workers sends them, reading the
// body back from the log, and records a delivery.attempted for each. A
// receiver that hangs holds at most PerHost workers and its backlog waits
// without holding up the reading of the log.
//
// Its durable state (see state.go) is a position and the hooks as of it,
// saved beside the log; a restart reads only the entries after the oldest
// request still without an attempt. A build event never gets two requests
// for one hook, whatever crashes: before matching the entries after its
// saved position, a restart collects the requests already logged there and
// does not append them again. Only a request in flight when the process
// died is sent twice, with the same Webhook-Id.
type Dispatcher struct {
	store  eventlog.Log
	state  StateStore
	pub    *eventlog.Publisher
	sender *Sender
	logger *slog.Logger
	cfg    DispatcherConfig

	regMu    sync.RWMutex         // the loop writes the registry; workers read it
	registry *domain.HookRegistry // as of matched
	changed  map[string]struct{}  // hooks changed since the last save (loop only)
	legacy   bool                 // a checkpoint of the old dispatcher is still saved
	matched  atomic.Uint64
	queue    *queue
	tracker  *tracker
	payloads *payloadCache
	workers  sync.WaitGroup

	lastSaved position // loop only
	saved     bool

	failMu  sync.Mutex
	failErr error
	stop    context.CancelFunc
	runCtx  context.Context // Run's, ended by stop
	holding atomic.Bool     // appends are held: said once (held.go)

	// With Sharing (shared.go):
	leading   atomic.Bool   // this process holds the matcher lease
	undecided *undecided    // requests decided while not leading, not yet in the log (loop only)
	nudged    chan struct{} // wakes the loop: the lease was acquired
	applied   appliedSignal // the loop moved matched on
	open      openRequests  // requests read without an attempt read yet
	claimed   heldClaims    // claims this process holds until their attempt is logged
}

// NewDispatcher returns a Dispatcher of log keeping its state in state
// (which may be the log itself: *badgerlog.Store is both); Run starts it.
func NewDispatcher(store eventlog.Log, state StateStore, pub *eventlog.Publisher, sender *Sender, cfg DispatcherConfig) *Dispatcher {
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.PerHost <= 0 {
		cfg.PerHost = min(8, max(1, cfg.Workers/8))
	}
	cfg.PerHost = min(cfg.PerHost, cfg.Workers)
	if cfg.MaxWaiting <= 0 {
		cfg.MaxWaiting = 1_000_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	if cfg.SaveEvery <= 0 {
		cfg.SaveEvery = time.Second
	}
	if cfg.Sharing != nil {
		sh := *cfg.Sharing
		sh.setDefaults()
		cfg.Sharing = &sh
	}
	return &Dispatcher{
		store: store, state: state, pub: pub, sender: sender, logger: cfg.Logger, cfg: cfg,
		registry:  domain.NewHookRegistry(),
		changed:   map[string]struct{}{},
		queue:     newQueue(cfg.PerHost, cfg.MaxWaiting),
		payloads:  newPayloadCache(payloadCacheBytes),
		undecided: newUndecided(),
		nudged:    make(chan struct{}, 1),
	}
}

// payloadCacheBytes bounds the build-event payloads kept for sends about
// to happen.
const payloadCacheBytes = 8 << 20

// Position is the sequence up to which the dispatcher has handled the log:
// every build event up to it has its deliveries requested.
func (d *Dispatcher) Position() uint64 { return d.matched.Load() }

// Waiting is the number of deliveries requested and not yet attempted.
func (d *Dispatcher) Waiting() int {
	if d.shared() {
		return d.queue.len()
	}
	if d.tracker == nil {
		return 0
	}
	return d.tracker.outstanding()
}

// Run dispatches until ctx ends, and returns nil then; any other reason to
// stop (a log read or append failing, the log closing under it) is
// returned as an error, never swallowed. On return, deliveries that had
// started are finished and recorded; those still waiting stay in the log
// for the next start.
func (d *Dispatcher) Run(ctx context.Context) (err error) {
	ctx, d.stop = context.WithCancel(ctx)
	d.runCtx = ctx
	defer d.stop()
	pos, reg, err := loadState(d.state)
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	if legacy, err := d.state.State(stateLegacy); err == nil && legacy != nil {
		d.legacy = true
	}
	d.registry = reg
	d.matched.Store(pos.matched)
	d.tracker = newTracker(pos.lowWater)
	if d.shared() {
		b, err := d.state.State(stateUndecided)
		if err != nil {
			return fmt.Errorf("dispatcher: %w", err)
		}
		if b != nil {
			if err := d.undecided.decode(b); err != nil {
				return fmt.Errorf("dispatcher: %w", err)
			}
		}
	}

	for i := 0; i < d.cfg.Workers; i++ {
		d.workers.Add(1)
		go d.work()
	}
	defer func() {
		d.queue.stop()
		d.workers.Wait()
		serr := d.save()
		if ferr := d.failure(); ferr != nil {
			err = ferr
		} else if serr != nil && err == nil {
			err = serr
		}
	}()

	head, err := d.recover(ctx, pos)
	if err == nil && d.shared() {
		var bg sync.WaitGroup
		defer func() { d.stop(); bg.Wait() }()
		bg.Go(func() { d.lead(ctx) })
		bg.Go(func() {
			if err := d.claim(ctx); ctx.Err() == nil {
				d.fail(fmt.Errorf("claiming requests from the shared send queue stopped: %w", err))
			}
		})
	}
	if err == nil {
		d.warnRefusedTargets()
		err = d.follow(ctx, head+1)
	}
	if ferr := d.failure(); ferr != nil {
		return ferr
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil // stopped as asked
	}
	if err == nil && ctx.Err() == nil {
		err = errors.New("stopped reading the log without a reason")
	}
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	return nil
}

// fail stops the dispatcher with err (the first one wins).
func (d *Dispatcher) fail(err error) {
	d.failMu.Lock()
	defer d.failMu.Unlock()
	if d.failErr == nil {
		d.failErr = fmt.Errorf("dispatcher: %w", err)
		d.logger.Error("dispatcher stops", "err", err)
		d.stop()
	}
}

func (d *Dispatcher) failure() error {
	d.failMu.Lock()
	defer d.failMu.Unlock()
	return d.failErr
}

// recover catches up with the log as it stands at start: it reads from
// the oldest request that may lack an attempt, queues the requests without
// one, matches the build events after the saved position (appending only
// requests not already logged), and returns the head it caught up with.
func (d *Dispatcher) recover(ctx context.Context, pos position) (uint64, error) {
	head, err := d.store.Head(eventlog.Topic)
	if err != nil {
		return 0, err
	}
	from := min(pos.matched, pos.lowWater) + 1
	pending := map[string]ref{}       // requests without an attempt, by delivery id
	pendingIDs := map[uint64]string{} // their delivery ids by request sequence
	logged := map[string]struct{}{}   // requests and attempts after pos.matched
	var candidates []domain.DeliveryRequested
	scanned := 0
	r := eventlog.NewReader(d.store, eventlog.Topic, from)
	for r.Next(ctx) {
		e := r.Entry()
		if e.Seq > head {
			break
		}
		scanned++
		name := e.Name()
		switch {
		case name == domain.NameDeliveryAttempted:
			id := e.Metadata[eventlog.MetaDeliveryID]
			delete(pending, id)
			if e.Seq > pos.matched {
				logged[id] = struct{}{}
			}
		case isRequest(name):
			rf, id, err := d.decodeRequest(e)
			if err != nil {
				return 0, err
			}
			if e.Seq > pos.matched {
				logged[id] = struct{}{}
			}
			d.undecided.seen(id)
			if e.Seq > pos.lowWater {
				pending[id] = rf
				pendingIDs[rf.reqSeq] = id
			}
		case e.Seq <= pos.matched:
			// folded into the saved hooks and matched already
		default:
			reqs, err := d.step(e)
			if err != nil {
				return 0, err
			}
			candidates = append(candidates, reqs...)
		}
	}
	if err := r.Err(); err != nil {
		return 0, fmt.Errorf("catch up from %d: %w", from, err)
	}
	fresh := candidates[:0]
	for _, c := range candidates {
		if _, ok := logged[c.DeliveryID]; !ok {
			fresh = append(fresh, c)
		}
	}
	if err := d.decided(ctx, fresh); err != nil {
		return 0, err
	}
	d.matched.Store(max(head, pos.matched))
	d.applied.broadcast()

	waiting := make([]ref, 0, len(pending))
	for _, rf := range pending {
		waiting = append(waiting, rf)
	}
	slices.SortFunc(waiting, func(a, b ref) int { return cmp.Compare(a.reqSeq, b.reqSeq) })
	for _, rf := range waiting {
		if d.shared() {
			// Whoever claims it sends it; this process only knows it is open.
			d.open.add(pendingIDs[rf.reqSeq], rf.reqSeq)
			d.tracker.add(rf.reqSeq)
		} else if err := d.enqueue(ctx, rf); err != nil {
			return 0, err
		}
	}
	d.tracker.readThrough(head)
	if err := d.save(); err != nil {
		return 0, err
	}
	d.logger.Info("dispatcher caught up with the log", "head", head, "read_from", from, "entries_read", scanned,
		"requested", len(fresh), "already_requested", len(candidates)-len(fresh), "waiting", len(waiting))
	return head, nil
}

// follow handles entries from next on as they are appended, until ctx ends
// or something fails.
func (d *Dispatcher) follow(ctx context.Context, next uint64) error {
	lastSave := time.Now()
	for {
		batch, err := d.store.ReadBatch(ctx, eventlog.Topic, next, 256)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			// Idle: save once, then wait; nothing is written while idle.
			if err := d.save(); err != nil {
				return err
			}
			lastSave = time.Now()
			if err := d.takeOver(ctx); err != nil {
				return err
			}
			if err := d.waitForMore(ctx, next-1); err != nil {
				if errors.Is(err, eventlog.ErrClosed) {
					return errors.New("the event log closed while the dispatcher was reading it")
				}
				return err
			}
			continue
		}
		var reqs []domain.DeliveryRequested
		for _, e := range batch {
			if isRequest(e.Name()) {
				rf, id, err := d.decodeRequest(e)
				if err != nil {
					return err
				}
				if d.shared() {
					d.readShared(e, id) // sent by whoever claims it
				} else if err := d.enqueue(ctx, rf); err != nil {
					return err
				}
			} else if e.Name() == domain.NameDeliveryAttempted {
				if d.shared() {
					d.readShared(e, e.Metadata[eventlog.MetaDeliveryID])
				}
			} else {
				more, err := d.step(e)
				if err != nil {
					return err
				}
				reqs = append(reqs, more...)
			}
			d.tracker.readThrough(e.Seq)
		}
		if err := d.decided(ctx, reqs); err != nil {
			return err
		}
		if err := d.takeOver(ctx); err != nil {
			return err
		}
		next = batch[len(batch)-1].Seq + 1
		d.matched.Store(next - 1)
		d.applied.broadcast()
		if time.Since(lastSave) >= d.cfg.SaveEvery {
			if err := d.save(); err != nil {
				return err
			}
			lastSave = time.Now()
		}
	}
}

// step folds a hook event into the registry, or matches a build event
// against it and returns the requests it calls for. Other entries are
// ignored. An entry that cannot be decoded is a damaged log: an error.
func (d *Dispatcher) step(e eventlog.Entry) ([]domain.DeliveryRequested, error) {
	name := e.Name()
	if !isHookEvent(name) && name != domain.NameBuildEventReceived {
		return nil, nil
	}
	ev, err := eventlog.DecodeEntry(e)
	if err != nil {
		return nil, err
	}
	switch ev := ev.(type) {
	case domain.HookConfigured:
		d.applyHook(ev, ev.HookSlug)
	case domain.HookRemoved:
		d.applyHook(ev, ev.HookSlug)
	case domain.BuildEventReceived:
		hooks := d.registry.Match(ev.AppSlug, ev.EventType)
		if len(hooks) == 0 {
			return nil, nil
		}
		d.payloads.put(e.Seq, payloadOf(ev))
		reqs := make([]domain.DeliveryRequested, len(hooks))
		at := time.Now().UTC()
		for i, h := range hooks {
			reqs[i] = domain.DeliveryRequested{
				DeliveryID: domain.DeliveryID(ev.EventID, h.Slug), HookSlug: h.Slug, AppSlug: ev.AppSlug,
				BuildEventID: ev.EventID, BuildEventSeq: e.Seq, RequestedAt: at, Actor: domain.ServiceActor(),
			}
		}
		return reqs, nil
	}
	return nil, nil
}

func (d *Dispatcher) applyHook(ev domain.Event, slug string) {
	d.regMu.Lock()
	d.registry.Apply(ev)
	d.regMu.Unlock()
	d.changed[slug] = struct{}{}
}

// maxRequestsPerAppend keeps one append of requests well inside a group
// commit's limits.
const maxRequestsPerAppend = 1024

// request appends the requests, in order. Each request's entry id is its
// delivery id, so a backend that deduplicates by id stores it once.
func (d *Dispatcher) request(ctx context.Context, reqs []domain.DeliveryRequested) error {
	for len(reqs) > 0 {
		n := min(len(reqs), maxRequestsPerAppend)
		msgs := make([]*message.Message, 0, n)
		for _, rq := range reqs[:n] {
			m, err := eventlog.EncodeEvent(rq.DeliveryID, rq)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		// Appends complete once taken, whatever ctx says; without ctx a
		// stop mid-batch would leave the position behind requests logged.
		if err := d.appendOrWait(ctx, msgs...); err != nil {
			return fmt.Errorf("append %d delivery requests: %w", n, err)
		}
		reqs = reqs[n:]
	}
	return nil
}

// decodeRequest turns a request entry into the reference the queue holds.
func (d *Dispatcher) decodeRequest(e eventlog.Entry) (ref, string, error) {
	ev, err := eventlog.DecodeEntry(e)
	if err != nil {
		return ref{}, "", err
	}
	switch ev := ev.(type) {
	case domain.DeliveryRequested:
		return ref{reqSeq: e.Seq, payloadSeq: ev.BuildEventSeq, hookSlug: ev.HookSlug}, ev.DeliveryID, nil
	case domain.RedeliveryRequested:
		return ref{reqSeq: e.Seq, payloadSeq: e.Seq, hookSlug: ev.HookSlug, redelivery: true}, ev.DeliveryID, nil
	case domain.TestDeliveryRequested:
		return ref{reqSeq: e.Seq, payloadSeq: e.Seq, hookSlug: ev.HookSlug, test: true}, ev.DeliveryID, nil
	}
	return ref{}, "", fmt.Errorf("entry %d: %s is not a request", e.Seq, e.Name())
}

// enqueue queues a request under its receiver, warning once while the
// queue is full.
func (d *Dispatcher) enqueue(ctx context.Context, rf ref) error {
	d.regMu.RLock()
	url, ok := d.registry.URL(rf.hookSlug)
	d.regMu.RUnlock()
	host := "hook " + rf.hookSlug
	if ok {
		host = hostKey(url, rf.hookSlug)
	}
	if rf.claim == nil {
		d.tracker.add(rf.reqSeq)
	}
	if d.queue.full() {
		d.logger.Warn("deliveries waiting for their receivers reached --max-waiting; reading the log waits until some are sent",
			"waiting", d.queue.len())
	}
	if !d.queue.put(ctx, host, rf) {
		return ctx.Err()
	}
	return nil
}

// save writes the position and the hooks changed since the last save.
func (d *Dispatcher) save() error {
	pos := position{matched: d.matched.Load(), lowWater: d.tracker.lowWater()}
	if d.saved && d.lastSaved == pos && len(d.changed) == 0 && !d.legacy && !d.undecided.dirty {
		return nil // nothing new: an idle log writes nothing
	}
	d.regMu.RLock()
	c, err := stateChange(pos, d.registry, d.changed, d.legacy)
	d.regMu.RUnlock()
	if err != nil {
		return err
	}
	if d.undecided.dirty {
		if len(d.undecided.open) == 0 {
			c.Delete = append(c.Delete, stateUndecided)
		} else if c.Put[stateUndecided], err = d.undecided.encode(); err != nil {
			return fmt.Errorf("dispatcher state: %w", err)
		}
	}
	if err := d.state.SaveState(c.Put, c.Delete); err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	d.lastSaved, d.saved = pos, true
	d.undecided.dirty = false
	clear(d.changed)
	d.legacy = false
	return nil
}
