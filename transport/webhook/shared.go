package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

// Sharing makes a dispatcher one of several processes sharing one log
// (eventlog/natslog). Each process still follows the whole log, keeping
// its own hooks and deciding every match by log order, but:
//
//   - only the holder of the matcher lease appends the requests its
//     matches call for; the others keep the decisions they made until
//     they see the requests in the log, so that whoever takes the lease
//     over appends exactly the ones still missing (with the same delivery
//     ids: a log that deduplicates by id stores a request appended twice
//     in a takeover once);
//   - requests are not sent by whoever reads them but claimed from one
//     queue shared by all processes, each claim finished (Done) only once
//     its attempt is durable in the log: a process that dies leaves its
//     unfinished claims to the others when their lease runs out.
type Sharing struct {
	Claimer eventlog.Claimer
	Leases  eventlog.Leases
	// ClaimLease is how long a claimed request stays with this process
	// without word from it; it is renewed while the request waits for its
	// receiver, and must exceed the longest send. Default 60 s.
	ClaimLease time.Duration
	// MatcherLease is the matcher lease's time to live: how long the
	// others wait before taking over from a matcher that died. Default 5 s.
	MatcherLease time.Duration
	// MaxClaimed bounds the claims handed out and not yet finished over
	// all processes. Default 100,000.
	MaxClaimed int
}

// Queue and lease names, shared by every process.
const (
	sendQueue    = "hookd-sender"
	matcherLease = "hookd-matcher"
	// claimBatch is how many claims one fetch asks for.
	claimBatch = 256
)

func (s *Sharing) setDefaults() {
	if s.ClaimLease <= 0 {
		s.ClaimLease = 60 * time.Second
	}
	if s.MatcherLease <= 0 {
		s.MatcherLease = 5 * time.Second
	}
	if s.MaxClaimed <= 0 {
		s.MaxClaimed = 100_000
	}
}

func (d *Dispatcher) shared() bool { return d.cfg.Sharing != nil }

// undecided holds the requests this process's matching called for while
// it did not hold the matcher lease, until the log shows them: what a
// takeover must append. Loop only.
type undecided struct {
	order []domain.DeliveryRequested
	open  map[string]struct{} // delivery ids in order not yet seen in the log
	dirty bool                // changed since the last save
}

func newUndecided() *undecided { return &undecided{open: map[string]struct{}{}} }

func (u *undecided) add(reqs []domain.DeliveryRequested) {
	for _, r := range reqs {
		if _, ok := u.open[r.DeliveryID]; !ok {
			u.open[r.DeliveryID] = struct{}{}
			u.order = append(u.order, r)
			u.dirty = true
		}
	}
}

// seen notes a request read from the log.
func (u *undecided) seen(id string) {
	if _, ok := u.open[id]; !ok {
		return
	}
	delete(u.open, id)
	u.dirty = true
	if len(u.open) == 0 {
		u.order = nil
	} else if len(u.order) > 2*len(u.open)+64 {
		u.order = u.missing()
	}
}

// missing is the requests not yet seen, in the order they were decided.
func (u *undecided) missing() []domain.DeliveryRequested {
	out := make([]domain.DeliveryRequested, 0, len(u.open))
	for _, r := range u.order {
		if _, ok := u.open[r.DeliveryID]; ok {
			out = append(out, r)
		}
	}
	return out
}

const stateUndecided = "dispatcher.undecided"

func (u *undecided) encode() ([]byte, error) { return json.Marshal(u.missing()) }

func (u *undecided) decode(b []byte) error {
	var reqs []domain.DeliveryRequested
	if err := json.Unmarshal(b, &reqs); err != nil {
		return fmt.Errorf("dispatcher state %s: %w", stateUndecided, err)
	}
	u.add(reqs)
	u.dirty = false
	return nil
}

// decided handles the requests the log's order calls for: appended when
// this process holds the matcher lease (or has the log to itself), kept
// for a takeover otherwise.
func (d *Dispatcher) decided(ctx context.Context, reqs []domain.DeliveryRequested) error {
	if !d.shared() || d.leading.Load() {
		return d.request(ctx, reqs)
	}
	d.undecided.add(reqs)
	return nil
}

// takeOver appends the requests still missing from the log once this
// process holds the matcher lease; the loop calls it between batches.
func (d *Dispatcher) takeOver(ctx context.Context) error {
	if !d.shared() || !d.leading.Load() || len(d.undecided.open) == 0 {
		return nil
	}
	missing := d.undecided.missing()
	if err := d.request(ctx, missing); err != nil {
		return err
	}
	d.logger.Info("matcher took over: appended the requests the previous matcher had not", "requests", len(missing))
	d.undecided = newUndecided()
	d.undecided.dirty = true
	return nil
}

// lead holds the matcher lease whenever it can, until ctx ends.
func (d *Dispatcher) lead(ctx context.Context) {
	for {
		lease, err := d.cfg.Sharing.Leases.Acquire(ctx, matcherLease, d.cfg.Sharing.MatcherLease)
		if err != nil {
			if ctx.Err() == nil {
				d.fail(fmt.Errorf("acquire the matcher lease: %w", err))
			}
			return
		}
		d.leading.Store(true)
		d.logger.Info("this process matches build events now (it holds the matcher lease)")
		d.nudge()
		select {
		case <-lease.Lost():
			d.leading.Store(false)
			d.logger.Warn("lost the matcher lease: another process matches build events now")
		case <-ctx.Done():
			d.leading.Store(false)
			_ = lease.Release()
			return
		}
	}
}

// nudge wakes the loop if it waits for the log to grow.
func (d *Dispatcher) nudge() {
	select {
	case d.nudged <- struct{}{}:
	default:
	}
}

// waitForMore waits until the log is past seq, or the loop is nudged
// (nil either way), ctx ends or the log closes.
func (d *Dispatcher) waitForMore(ctx context.Context, seq uint64) error {
	if !d.shared() {
		return d.store.WaitFor(ctx, eventlog.Topic, seq)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.nudged:
			cancel()
		case <-wctx.Done():
		}
	}()
	err := d.store.WaitFor(wctx, eventlog.Topic, seq)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// applied is closed and replaced whenever the loop moves matched on.
type appliedSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (a *appliedSignal) wait() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ch == nil {
		a.ch = make(chan struct{})
	}
	return a.ch
}

func (a *appliedSignal) broadcast() {
	a.mu.Lock()
	if a.ch != nil {
		close(a.ch)
		a.ch = nil
	}
	a.mu.Unlock()
}

// waitApplied waits until the loop has read the log through seq, so the
// hooks a claimed request names are known as of it.
func (d *Dispatcher) waitApplied(ctx context.Context, seq uint64) error {
	for {
		ch := d.applied.wait()
		if d.matched.Load() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// claim takes requests from the queue shared by every process and queues
// them under their receivers, until ctx ends.
func (d *Dispatcher) claim(ctx context.Context) error {
	claims, err := d.cfg.Sharing.Claimer.Claims(ctx, eventlog.Topic, eventlog.ClaimConfig{
		Queue: sendQueue, Names: []string{domain.NameDeliveryRequested, domain.NameRedeliveryRequested, domain.NameTestDeliveryRequested},
		Lease: d.cfg.Sharing.ClaimLease, MaxPending: d.cfg.Sharing.MaxClaimed,
	})
	if err != nil {
		return fmt.Errorf("open the shared send queue: %w", err)
	}
	defer claims.Close()
	go d.renewClaims(ctx)
	for {
		batch, err := claims.Next(ctx, claimBatch)
		if err != nil {
			return err
		}
		for _, c := range batch {
			rf, id, err := d.decodeRequest(c.Entry)
			if err != nil {
				return err
			}
			if err := d.waitApplied(ctx, c.Entry.Seq); err != nil {
				return err
			}
			if !d.open.has(id) {
				// Its attempt is in the log already: sent by a process that
				// died before finishing the claim, or before this queue
				// existed (a log imported from the embedded one).
				if err := c.Done(); err != nil {
					d.logger.Warn("could not finish a claim whose attempt is logged; it will come back", "delivery_id", id, "err", err)
				}
				continue
			}
			if c.Delivered > 1 {
				d.logger.Info("sending a request another process claimed and did not finish", "delivery_id", id, "handed_out", c.Delivered)
			}
			rf.claim = &c
			d.claimed.add(rf.reqSeq, rf.claim)
			if err := d.enqueue(ctx, rf); err != nil {
				d.claimed.drop(rf.reqSeq)
				return err
			}
		}
	}
}

// renewClaims renews every claim this process holds (waiting for its
// receiver, being sent, or being recorded) every third of the lease, so
// that no other process takes one while this one still works on it: on a
// busy log, recording an attempt and finishing its claim can take longer
// than the send itself.
func (d *Dispatcher) renewClaims(ctx context.Context) {
	t := time.NewTicker(d.cfg.Sharing.ClaimLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for seq, c := range d.claimed.all() {
			if err := c.Extend(); err != nil {
				d.logger.Warn("could not renew a claimed request; another process may send it too", "request_seq", seq, "err", err)
			}
		}
	}
}

// heldClaims are the claims this process holds, by request sequence.
type heldClaims struct {
	mu sync.Mutex
	m  map[uint64]*eventlog.Claim
}

func (h *heldClaims) add(seq uint64, c *eventlog.Claim) {
	h.mu.Lock()
	if h.m == nil {
		h.m = map[uint64]*eventlog.Claim{}
	}
	h.m[seq] = c
	h.mu.Unlock()
}

func (h *heldClaims) drop(seq uint64) {
	h.mu.Lock()
	delete(h.m, seq)
	h.mu.Unlock()
}

// all is a copy, to renew without holding the lock over network calls.
func (h *heldClaims) all() map[uint64]*eventlog.Claim {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[uint64]*eventlog.Claim, len(h.m))
	for k, v := range h.m {
		out[k] = v
	}
	return out
}

// openRequests are the requests read from a shared log whose attempt has
// not been read yet, by delivery id (their sequences go to the tracker):
// a claimed request not among them has been attempted already.
type openRequests struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (o *openRequests) add(id string, seq uint64) {
	o.mu.Lock()
	if o.m == nil {
		o.m = map[string]uint64{}
	}
	o.m[id] = seq
	o.mu.Unlock()
}

// attempted removes id and returns its request's sequence, if it was open.
func (o *openRequests) attempted(id string) (uint64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	seq, ok := o.m[id]
	delete(o.m, id)
	return seq, ok
}

func (o *openRequests) has(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.m[id]
	return ok
}

// readShared notes a request or an attempt read from a shared log.
func (d *Dispatcher) readShared(e eventlog.Entry, id string) {
	if e.Name() == domain.NameDeliveryAttempted {
		if seq, ok := d.open.attempted(id); ok {
			d.tracker.finish(seq)
		}
		return
	}
	d.undecided.seen(id)
	d.open.add(id, e.Seq)
	d.tracker.add(e.Seq)
}

// finish marks a send's request finished once its attempt is durable
// (on a shared log, the tracker learns it from the log, as it does for
// attempts made by the other processes).
func (d *Dispatcher) finish(t *ticket, id string) {
	if t.claim == nil {
		d.tracker.finish(t.reqSeq)
		return
	}
	d.claimed.drop(t.reqSeq)
	if err := t.claim.Done(); err != nil {
		d.logger.Warn("could not finish the claim of a recorded delivery; another process will find it recorded", "delivery_id", id, "err", err)
	}
}
