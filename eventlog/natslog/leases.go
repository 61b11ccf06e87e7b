package natslog

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
)

// leaseMarkerTTL is how long the leases bucket keeps the marker JetStream
// leaves when a key's TTL runs out (KeyValueConfig.LimitMarkerTTL, which
// also turns on per-key TTLs).
const leaseMarkerTTL = time.Minute

// Acquire blocks until this process holds the lease called name, or ctx
// ends. A lease is a key of the bucket <Stream>_leases holding the
// holder's id, written with a per-key TTL of ttl rounded up to whole
// seconds (JetStream's TTL unit; ttl must be at least 1 s): Acquire
// creates the key, which fails while another holds it, trying every
// ttl/4; the holder rewrites it every ttl/3, on the condition that it is
// still the revision it last wrote. See doc.go for the guarantees.
func (l *Log) Acquire(ctx context.Context, name string, ttl time.Duration) (eventlog.Lease, error) {
	if err := l.Err(); err != nil {
		return nil, err
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("natslog: lease %q: ttl %v is under JetStream's smallest per-key TTL (1 s): use at least 1 s", name, ttl)
	}
	if name == "" {
		return nil, errors.New("natslog: lease without a name: name it after its role")
	}
	kv, err := l.leases(ctx)
	if err != nil {
		return nil, err
	}
	le := &lease{l: l, kv: kv, name: name, key: leaseKey(name), holder: holderID(), ttl: ttl,
		keyTTL: ttl.Truncate(time.Second), lost: make(chan struct{}), stop: make(chan struct{}), stopped: make(chan struct{})}
	if le.keyTTL < ttl {
		le.keyTTL += time.Second
	}
	for {
		sent := time.Now()
		rev, err := l.createLease(ctx, le)
		if err == nil {
			le.rev, le.deadline = rev, sent.Add(le.hold())
			break
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			l.logger.Warn("acquiring a lease failed; trying again", "lease", name, "err", err)
		}
		t := time.NewTimer(ttl / 4)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("natslog: acquire lease %q: %w", name, ctx.Err())
		case <-l.closing:
			t.Stop()
			return nil, eventlog.ErrClosed
		}
	}
	l.leaseMu.Lock()
	if l.isClosing() {
		l.leaseMu.Unlock()
		_ = le.release()
		return nil, eventlog.ErrClosed
	}
	l.leaseHeld[le] = struct{}{}
	l.bg.Add(1)
	l.leaseMu.Unlock()
	go le.renew()
	l.logger.Info("lease acquired", "lease", name, "holder", le.holder, "ttl", ttl)
	return le, nil
}

// createLease creates le's key. If an earlier attempt's answer was lost
// but it was stored, the key holds le's own id: that is le's, too.
func (l *Log) createLease(ctx context.Context, le *lease) (uint64, error) {
	cctx, cancel := context.WithTimeout(ctx, l.cfg.PublishTimeout)
	defer cancel()
	rev, err := le.kv.Create(cctx, le.key, []byte(le.holder), jetstream.KeyTTL(le.keyTTL))
	if errors.Is(err, jetstream.ErrKeyExists) {
		if e, gerr := le.kv.Get(cctx, le.key); gerr == nil && string(e.Value()) == le.holder {
			return e.Revision(), nil
		}
	}
	return rev, err
}

// leases returns the leases bucket, creating it on first use.
func (l *Log) leases(ctx context.Context) (jetstream.KeyValue, error) {
	l.leaseMu.Lock()
	defer l.leaseMu.Unlock()
	if l.leaseKV != nil {
		return l.leaseKV, nil
	}
	kv, err := l.ensureBucket(ctx, jetstream.KeyValueConfig{
		Bucket:         l.cfg.Stream + "_leases",
		Description:    "hookd leases: one holder at a time of each role",
		History:        1,
		Storage:        jetstream.FileStorage,
		Replicas:       l.cfg.Replicas,
		LimitMarkerTTL: leaseMarkerTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("natslog: create the leases bucket %s_leases (per-key TTLs need nats-server 2.11 or later): %w", l.cfg.Stream, err)
	}
	l.leaseKV = kv
	return kv, nil
}

// releaseAll releases every lease held through l (Close).
func (l *Log) releaseAll() {
	l.leaseMu.Lock()
	held := make([]*lease, 0, len(l.leaseHeld))
	for le := range l.leaseHeld {
		held = append(held, le)
	}
	l.leaseMu.Unlock()
	for _, le := range held {
		if err := le.Release(); err != nil {
			l.logger.Warn("releasing a lease on close", "lease", le.name, "err", err)
		}
	}
}

var plainKey = regexp.MustCompile(`^[-_=a-zA-Z0-9]+$`)

// leaseKey is name as a key: itself if it is a plain token, else its
// URL base64 (KV keys allow few characters) after "b64.".
func leaseKey(name string) string {
	if plainKey.MatchString(name) {
		return name
	}
	return "b64." + base64.RawURLEncoding.EncodeToString([]byte(name))
}

// holderID names one Acquire: host, process and a random part.
func holderID() string {
	host, _ := os.Hostname()
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(r[:]))
}

// lease is a held lease; renew keeps it.
type lease struct {
	l      *Log
	kv     jetstream.KeyValue
	name   string
	key    string
	holder string
	ttl    time.Duration
	keyTTL time.Duration

	// rev, deadline and gone are renew's until it has stopped, then
	// Release's: the revision last written; when the lease is lost
	// without another write (see hold); whether the key is no longer le's.
	rev      uint64
	deadline time.Time
	gone     bool

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{} // closed by Release
	stopOnce sync.Once
	stopped  chan struct{} // closed when renew has returned
	relOnce  sync.Once
	relErr   error
}

func (le *lease) Lost() <-chan struct{} { return le.lost }

// hold is how long after sending a write the holder may rely on it: the
// key expires keyTTL (≥ ttl) after the server stored it, later than the
// send; the holder gives up a tenth of ttl earlier still, against its
// own delays in noticing.
func (le *lease) hold() time.Duration { return le.ttl - le.ttl/10 }

func (le *lease) markLost(why string, err error) {
	le.lostOnce.Do(func() {
		le.l.logger.Warn("lease lost", "lease", le.name, "holder", le.holder, "why", why, "err", err)
		close(le.lost)
	})
}

// renew rewrites the key every ttl/3, and more often after a failure,
// until Release, a refusal (the key is no longer le's) or the deadline.
func (le *lease) renew() {
	defer le.l.bg.Done()
	defer close(le.stopped)
	every := le.ttl / 3
	next := every
	for {
		wait := min(next, time.Until(le.deadline))
		t := time.NewTimer(max(wait, 0))
		select {
		case <-t.C:
		case <-le.stop:
			t.Stop()
			return
		case <-le.l.bgCtx.Done():
			t.Stop()
			return
		}
		if !time.Now().Before(le.deadline) {
			le.markLost("not renewed within its ttl", nil)
			return
		}
		sent := time.Now()
		rev, err := le.write(time.Until(le.deadline))
		switch {
		case err == nil:
			le.rev, le.deadline, next = rev, sent.Add(le.hold()), every
		case isWrongLast(err):
			le.gone = true
			le.markLost("the key was removed or taken over", err)
			return
		default:
			le.l.logger.Warn("renewing a lease failed; trying again until its ttl runs out", "lease", le.name, "err", err, "left", time.Until(le.deadline).Round(time.Millisecond))
			next = max(le.ttl/10, 100*time.Millisecond)
		}
	}
}

// write rewrites the key with a fresh TTL if it is still at le.rev. The
// key-value API's Update cannot set a TTL, so this is its publish (to
// $KV.<bucket>.<key>, expecting the key's last revision) with one.
func (le *lease) write(within time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(le.l.bgCtx, min(within, le.l.cfg.PublishTimeout))
	defer cancel()
	m := &nats.Msg{Subject: "$KV." + le.kv.Bucket() + "." + le.key, Data: []byte(le.holder), Header: nats.Header{}}
	ack, err := le.l.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(le.rev), jetstream.WithMsgTTL(le.keyTTL))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// Release stops renewing and deletes the key if it is still le's, so
// another process can take the lease at once. Lost is closed.
func (le *lease) Release() error {
	le.relOnce.Do(func() {
		le.stopOnce.Do(func() { close(le.stop) })
		<-le.stopped
		le.relErr = le.release()
		le.l.leaseMu.Lock()
		delete(le.l.leaseHeld, le)
		le.l.leaseMu.Unlock()
	})
	return le.relErr
}

// release deletes the key unless it is known to be another's; on the
// condition that it is still at le's last revision, so a key that expired
// and was taken is left alone.
func (le *lease) release() error {
	defer le.markLost("released", nil)
	if le.gone {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), le.l.cfg.PublishTimeout)
	defer cancel()
	err := le.kv.Delete(ctx, le.key, jetstream.LastRevision(le.rev))
	if err != nil && !isWrongLast(err) {
		return fmt.Errorf("natslog: release lease %q: %w (others can take it once its ttl of %v has passed)", le.name, err, le.ttl)
	}
	return nil
}
