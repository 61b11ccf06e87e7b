package webhook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

// ConsumerGroup is the dispatcher's durable position in the log.
const ConsumerGroup = "dispatcher"

// deliveryNamespace derives delivery ids: one (build event, hook) pair
// always gets the same id, so a pair re-sent after a crash is recognisable.
var deliveryNamespace = uuid.MustParse("6f1d3c1e-52a4-4d4e-9a43-3b2f0b6f6a10")

// DeliveryID is the id of the first delivery item of a build event to a hook.
func DeliveryID(buildEventID, hookSlug string) string {
	return uuid.NewSHA1(deliveryNamespace, []byte(buildEventID+"\x00"+hookSlug)).String()
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
	// PerHost is how many deliveries to one destination (the host and
	// port of the hook URL, shared by every hook pointing there) are sent
	// at once, so a slow or hanging receiver holds at most that many
	// workers and the rest keep serving other receivers. Default 8, but
	// no more than Workers/8 (at least 1); never more than Workers.
	PerHost int
	// Queue is how many deliveries may wait for a worker (a slow hook's
	// backlog waits here); when it is full, reading the log waits.
	// Default 256 per worker.
	Queue  int
	Logger *slog.Logger
	// Observer, if set, is told when each delivery starts and finishes
	// (for metrics). Default: none.
	Observer Observer
	// CheckpointEvery is how often the dispatcher saves the checkpoint that
	// lets a restart skip most of the log. Default 2 s.
	CheckpointEvery time.Duration
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

// Dispatcher reads the log in order, decides which hooks each build event
// goes to from the hooks configured before it, and hands the sends to a
// bounded pool of workers, each recording a DeliveryAttempted. No
// destination host:port gets more than PerHost workers at once, so a
// hanging receiver cannot starve the others.
//
// Nothing is lost across crashes: at start a recovery scan of the log finds
// every (event, hook) pair and redelivery request without a
// DeliveryAttempted and sends it. Only pairs in flight at a crash can be
// sent twice; they carry the same delivery id.
type Dispatcher struct {
	store  *eventlog.Store
	pub    *eventlog.Publisher
	sender *Sender
	logger *slog.Logger
	cfg    DispatcherConfig

	registry    *domain.HookRegistry // touched only by the ordered stage
	skipThrough uint64               // entries up to here were handled by recovery
	lastSeq     uint64               // the last entry the ordered stage handled

	// outstanding are sends asked for whose attempt is not yet in the log.
	outMu          sync.Mutex
	outstanding    map[string]job
	lastCheckpoint time.Time
	queue          *queue
	workers        sync.WaitGroup
}

type job struct {
	seq          uint64 // the entry that asked for this send
	deliveryID   string
	redeliveryOf string
	buildEventID string
	eventType    string
	appSlug      string
	hookSlug     string
	hook         domain.Hook
	hookFound    bool
	body         []byte
}

// NewDispatcher returns a Dispatcher; Run starts it.
func NewDispatcher(store *eventlog.Store, pub *eventlog.Publisher, sender *Sender, cfg DispatcherConfig) *Dispatcher {
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.PerHost <= 0 {
		cfg.PerHost = min(8, max(1, cfg.Workers/8))
	}
	cfg.PerHost = min(cfg.PerHost, cfg.Workers)
	if cfg.Queue <= 0 {
		cfg.Queue = 256 * cfg.Workers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 2 * time.Second
	}
	return &Dispatcher{
		store: store, pub: pub, sender: sender, logger: cfg.Logger, cfg: cfg,
		registry:    domain.NewHookRegistry(),
		queue:       newQueue(cfg.PerHost, cfg.Queue),
		outstanding: map[string]job{},
	}
}

// Run recovers unsent deliveries, then dispatches new events until ctx
// ends. On return, deliveries that had started are finished and recorded;
// queued ones that had not started are left for the next start's recovery.
func (d *Dispatcher) Run(ctx context.Context) error {
	for i := 0; i < d.cfg.Workers; i++ {
		d.workers.Add(1)
		go d.work()
	}
	recovered := false
	defer func() {
		d.queue.stop()
		d.workers.Wait()
		if recovered {
			// Sends queued but not started are still outstanding: the
			// checkpoint keeps them for the next start.
			d.maybeCheckpoint(true)
		}
	}()

	pending, err := d.recover(ctx)
	if err != nil {
		return err
	}
	recovered = true
	d.lastSeq = d.skipThrough
	if len(pending) > 0 {
		d.logger.Info("recovering deliveries without a recorded attempt", "count", len(pending))
	}
	if !d.submit(ctx, pending) {
		return nil
	}

	sub, err := eventlog.NewSubscriber(d.store, eventlog.SubscriberConfig{ConsumerGroup: ConsumerGroup, Logger: d.logger})
	if err != nil {
		return err
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, watermill.NewSlogLogger(d.logger))
	if err != nil {
		return fmt.Errorf("dispatcher router: %w", err)
	}
	router.AddConsumerHandler("dispatcher", eventlog.Topic, sub, func(msg *message.Message) error {
		d.handle(msg.Context(), msg)
		return nil
	})
	if err := router.Run(ctx); err != nil {
		return fmt.Errorf("dispatcher router: %w", err)
	}
	return nil
}

// submit queues jobs, waiting for room; false if ctx ended first. All of
// them are tracked before the first is queued, so those that never reach
// the queue stay outstanding and the next checkpoint keeps them.
func (d *Dispatcher) submit(ctx context.Context, jobs []job) bool {
	for _, j := range jobs {
		d.track(j)
	}
	for _, j := range jobs {
		if !d.queue.put(ctx, j) {
			return false
		}
	}
	return true
}

// handle is the ordered stage: it sees every entry once, in log order.
func (d *Dispatcher) handle(ctx context.Context, msg *message.Message) {
	seq, _ := strconv.ParseUint(msg.Metadata.Get(eventlog.MetaSeq), 10, 64)
	if seq <= d.skipThrough {
		return
	}
	defer func() {
		d.lastSeq = seq
		d.maybeCheckpoint(false)
	}()
	name := msg.Metadata.Get(eventlog.MetaName)
	if name == domain.NameDeliveryAttempted {
		return
	}
	ev, err := eventlog.DecodeMessage(msg)
	if err != nil {
		// A poison entry must not stop every delivery after it.
		d.logger.Error("dispatcher skips an entry it cannot decode", "seq", seq, "name", name, "err", err)
		return
	}
	d.submit(ctx, d.step(seq, ev))
}

// step folds one event into the registry and returns the sends it calls for.
func (d *Dispatcher) step(seq uint64, ev domain.Event) []job {
	switch e := ev.(type) {
	case domain.HookConfigured, domain.HookRemoved:
		d.registry.Apply(e)
	case domain.BuildEventReceived:
		body := e.Build.Body()
		var jobs []job
		for _, h := range d.registry.Match(e.AppSlug, e.EventType) {
			jobs = append(jobs, job{
				seq: seq, deliveryID: DeliveryID(e.EventID, h.Slug), buildEventID: e.EventID, eventType: e.EventType,
				appSlug: e.AppSlug, hookSlug: h.Slug, hook: h, hookFound: true, body: body,
			})
		}
		return jobs
	case domain.RedeliveryRequested:
		h, ok := d.registry.Get(e.HookSlug)
		return []job{{
			seq: seq, deliveryID: e.DeliveryID, redeliveryOf: e.OriginalDeliveryID, buildEventID: e.BuildEventID,
			eventType: e.EventType, appSlug: e.AppSlug, hookSlug: e.HookSlug, hook: h, hookFound: ok, body: e.Payload,
		}}
	}
	return nil
}

// recover replays the log to its head: it rebuilds the registry and returns
// the sends the log asks for but has no DeliveryAttempted for, in log order.
// With a checkpoint it starts from the checkpoint's hooks and outstanding
// sends, looks at entries up to the checkpoint only for attempts (from the
// oldest outstanding send on), and handles everything after it. An attempt
// is always appended after the event that asked for it, so only sends still
// unanswered are held in memory.
func (d *Dispatcher) recover(ctx context.Context) ([]job, error) {
	type wantedJob struct {
		order int
		job   job
	}
	pending := map[string]wantedJob{}
	n := 0
	var from, checkpointed uint64 = 1, 0
	if cp, ok := d.loadCheckpoint(); ok {
		d.registry = domain.NewHookRegistryFrom(cp.Hooks)
		checkpointed, from = cp.Seq, cp.Seq+1
		slices.SortFunc(cp.Outstanding, func(a, b savedJob) int { return cmp.Compare(a.Seq, b.Seq) })
		for _, s := range cp.Outstanding {
			pending[s.DeliveryID] = wantedJob{order: n, job: s.job()}
			n++
			from = min(from, s.Seq)
		}
		d.logger.Info("dispatcher resumes from its checkpoint", "checkpoint_seq", cp.Seq, "outstanding", len(cp.Outstanding), "scan_from", from)
	}
	r := d.store.NewReader(eventlog.Topic, from)
	for r.Next(ctx) {
		e := r.Entry()
		d.skipThrough = e.Seq
		if e.Name() == domain.NameDeliveryAttempted {
			if id := e.Metadata[eventlog.MetaDeliveryID]; id != "" {
				delete(pending, id)
				continue
			}
		} else if e.Seq <= checkpointed {
			continue // already folded into the checkpoint
		}
		ev, err := eventlog.DecodeEntry(e)
		if err != nil {
			d.logger.Error("recovery skips an entry it cannot decode", "seq", e.Seq, "err", err)
			continue
		}
		if a, ok := ev.(domain.DeliveryAttempted); ok {
			delete(pending, a.DeliveryID)
			continue
		}
		for _, j := range d.step(e.Seq, ev) {
			pending[j.deliveryID] = wantedJob{order: n, job: j}
			n++
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("dispatcher recovery: %w", err)
	}
	ordered := make([]wantedJob, 0, len(pending))
	for _, w := range pending {
		ordered = append(ordered, w)
	}
	slices.SortFunc(ordered, func(a, b wantedJob) int { return a.order - b.order })
	jobs := make([]job, len(ordered))
	for i, w := range ordered {
		jobs[i] = w.job
	}
	return jobs, nil
}

func (d *Dispatcher) work() {
	defer d.workers.Done()
	for {
		// Once stopping, jobs not yet started are left for the next
		// start's recovery.
		j, ok := d.queue.take()
		if !ok {
			return
		}
		d.deliver(j)
	}
}

// deliver sends one job and records the attempt. It runs to completion even
// during shutdown, bounded by the sender's timeout. The receiver's slot is
// freed as soon as the send is over, so the next send to that host does not
// wait for this attempt's fsync; the worker still holds the total bound.
func (d *Dispatcher) deliver(j job) {
	ev := domain.DeliveryAttempted{
		DeliveryID: j.deliveryID, HookSlug: j.hookSlug, AppSlug: j.appSlug, BuildEventID: j.buildEventID,
		EventType: j.eventType, RedeliveryOf: j.redeliveryOf,
	}
	d.cfg.Observer.DeliveryStarted()
	var sendTime time.Duration
	defer func() { d.cfg.Observer.DeliveryFinished(j.eventType, statusOf(ev.Response), ev.Error, sendTime) }()
	if !j.hookFound {
		ev.Error = "not sent: the webhook was deleted before the redelivery was sent"
		ev.Request = domain.OutgoingRequest{Headers: map[string]string{}, Body: j.body}
	} else {
		at := time.Now().UTC()
		secrets, err := d.signingSecrets(j.hook, at)
		// The message id is the first delivery's id, so a redelivery of the
		// same event to the same hook can be recognised by the receiver.
		msgID := DeliveryID(j.buildEventID, j.hookSlug)
		if err != nil {
			ev.Error = "not sent: " + err.Error()
			ev.Request = domain.BuildRequest(j.hook, j.eventType, j.body, msgID, at, domain.SigningSecrets{})
		} else {
			ev.Request = domain.BuildRequest(j.hook, j.eventType, j.body, msgID, at, secrets)
			out := d.sender.Send(context.Background(), ev.Request)
			ev.Response, ev.Error, ev.DurationMS = out.Response, out.Error, out.Duration.Milliseconds()
			sendTime = out.Duration
		}
	}
	ev.AttemptedAt = time.Now().UTC()
	d.queue.done(j)
	msg, err := eventlog.EncodeEvent(uuid.NewString(), ev)
	if err == nil {
		_, err = d.pub.Append(context.Background(), eventlog.Topic, msg)
	}
	if err == nil {
		d.untrack(j.deliveryID)
	}
	if err != nil {
		if !errors.Is(err, eventlog.ErrClosed) {
			d.logger.Error("could not record a delivery attempt; it will be sent again at the next start",
				"delivery_id", j.deliveryID, "hook", j.hookSlug, "err", err)
		}
		return
	}
	d.logger.Debug("delivered", "delivery_id", j.deliveryID, "hook", j.hookSlug, "status", statusOf(ev.Response), "error", ev.Error)
}

// signingSecrets opens the hook's secrets that sign a delivery made at.
func (d *Dispatcher) signingSecrets(h domain.Hook, at time.Time) (domain.SigningSecrets, error) {
	current, previous := h.SealedSigningSecrets(at)
	var s domain.SigningSecrets
	if current == "" {
		return s, nil
	}
	if d.cfg.Secrets == nil {
		return s, errors.New("the webhook has a secret but hookd has no secret key to open it")
	}
	var err error
	if s.Current, err = d.cfg.Secrets.Open(current, h.Slug); err != nil {
		return domain.SigningSecrets{}, err
	}
	if previous != "" {
		if s.Previous, err = d.cfg.Secrets.Open(previous, h.Slug); err != nil {
			return domain.SigningSecrets{}, err
		}
	}
	return s, nil
}

func statusOf(r *domain.Response) int {
	if r == nil {
		return 0
	}
	return r.Status
}
