package logtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
)

// leaseTTL is the ttl of the leases suite.
const leaseTTL = 2 * time.Second

// RunLeases runs the subtests of eventlog.Leases on Logs that share a
// backend; each Log open returns must offer Leases.
func RunLeases(t *testing.T, open Reopener) {
	t.Run("OneHolderAtATime", func(t *testing.T) { testLeaseExclusive(t, open(t)) })
	t.Run("ReleaseHandsOverAtOnce", func(t *testing.T) { testLeaseRelease(t, open(t)) })
	t.Run("CloseHandsOver", func(t *testing.T) { testLeaseClose(t, open(t)) })
	t.Run("ConcurrentAcquireOneWinner", func(t *testing.T) { testLeaseRace(t, open(t)) })
}

func leases(t *testing.T, l eventlog.Log) eventlog.Leases {
	t.Helper()
	ls, ok := l.(eventlog.Leases)
	if !ok {
		t.Fatalf("%T offers no eventlog.Leases", l)
	}
	return ls
}

func mustAcquire(t *testing.T, l eventlog.Log, name string) eventlog.Lease {
	t.Helper()
	le, err := leases(t, l).Acquire(guard(t), name, leaseTTL)
	if err != nil {
		t.Fatalf("Acquire(%q): %v", name, err)
	}
	t.Cleanup(func() { _ = le.Release() })
	return le
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// acquireWithin is Acquire bounded by d.
func acquireWithin(t *testing.T, l eventlog.Log, name string, d time.Duration) (eventlog.Lease, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(guard(t), d)
	defer cancel()
	le, err := leases(t, l).Acquire(ctx, name, leaseTTL)
	if le != nil {
		t.Cleanup(func() { _ = le.Release() })
	}
	return le, err
}

// testLeaseExclusive: while one Log holds a lease (renewing it past
// several ttls), the other cannot acquire it, but can another name.
func testLeaseExclusive(t *testing.T, open func() eventlog.Log) {
	a, b := open(), open()
	held := mustAcquire(t, a, "matcher")
	if _, err := acquireWithin(t, b, "matcher", 2*leaseTTL); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire of a held lease: %v, want the deadline to pass", err)
	}
	if isClosed(held.Lost()) {
		t.Fatal("the holder lost its lease while renewing it")
	}
	mustAcquire(t, b, "other role")
}

// testLeaseRelease: Release hands the lease over at once (well within a
// ttl, which a lease left to run out would take), and closes Lost.
func testLeaseRelease(t *testing.T, open func() eventlog.Log) {
	a, b := open(), open()
	held := mustAcquire(t, a, "matcher")
	got := make(chan error, 1)
	go func() {
		_, err := acquireWithin(t, b, "matcher", hangGuard)
		got <- err
	}()
	if err := held.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if !isClosed(held.Lost()) {
		t.Fatal("Lost is open after Release")
	}
	released := time.Now()
	if err := <-got; err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	if d := time.Since(released); d >= leaseTTL {
		t.Fatalf("the lease changed hands %v after Release: not before its ttl (%v) ran out", d, leaseTTL)
	}
	if err := held.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
}

// testLeaseClose: closing the holder's Log hands its lease over.
func testLeaseClose(t *testing.T, open func() eventlog.Log) {
	a, b := open(), open()
	held := mustAcquire(t, a, "matcher")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := acquireWithin(t, b, "matcher", leaseTTL+5*time.Second); err != nil {
		t.Fatalf("Acquire after the holder's Log closed: %v", err)
	}
	if !isClosed(held.Lost()) {
		t.Fatal("Lost is open after the holder's Log closed")
	}
}

// testLeaseRace: two Logs acquire at once; one wins, the other waits
// until the winner releases.
func testLeaseRace(t *testing.T, open func() eventlog.Log) {
	a, b := open(), open()
	type won struct {
		le  eventlog.Lease
		err error
		who int
	}
	wins := make(chan won, 2)
	var wg sync.WaitGroup
	for i, l := range []eventlog.Log{a, b} {
		wg.Go(func() {
			le, err := acquireWithin(t, l, "matcher", hangGuard)
			wins <- won{le, err, i}
		})
	}
	first := <-wins
	if first.err != nil {
		t.Fatal(first.err)
	}
	select {
	case second := <-wins:
		t.Fatalf("both Logs hold the lease (second: %v)", second.err)
	case <-time.After(leaseTTL):
		// Waiting a ttl for something not to happen: the loser's retries
		// run every ttl/4.
	}
	if err := first.le.Release(); err != nil {
		t.Fatal(err)
	}
	second := <-wins
	if second.err != nil || second.who == first.who {
		t.Fatalf("after the winner released, the other's Acquire = %v (log %d)", second.err, second.who)
	}
	wg.Wait()
}
