package logtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
)

// Reopener returns a function that opens a Log on one new, empty backend
// each time it is called, as another process would; it closes them in
// t.Cleanup (closing a closed Log must be harmless).
type Reopener func(t *testing.T) func() eventlog.Log

// claimLease is the lease of the claims suite: short, so a lease running
// out is seen in a second, long enough for a loaded test machine.
const claimLease = time.Second

// RunClaims runs the subtests of eventlog.Claimer on Logs that share a
// backend; each Log open returns must be a Claimer.
func RunClaims(t *testing.T, open Reopener) {
	t.Run("EachEntryToOneClaimant", func(t *testing.T) { testClaimsShared(t, open(t)) })
	t.Run("UnfinishedClaimGoesToAnotherAfterLease", func(t *testing.T) { testClaimRedelivered(t, open(t)) })
	t.Run("ExtendKeepsClaim", func(t *testing.T) { testClaimExtend(t, open(t)) })
	t.Run("DoneIsDurableAcrossReopen", func(t *testing.T) { testClaimDoneDurable(t, open(t)) })
	t.Run("CloseEndsNext", func(t *testing.T) { testClaimsClose(t, open(t)) })
}

func claimer(t *testing.T, l eventlog.Log) eventlog.Claimer {
	t.Helper()
	c, ok := l.(eventlog.Claimer)
	if !ok {
		t.Fatalf("%T is not an eventlog.Claimer", l)
	}
	return c
}

var claimCfg = eventlog.ClaimConfig{
	Queue:      "logtest senders",
	Names:      []string{"test.requested.v1", "test.redelivery.v1"},
	Lease:      claimLease,
	MaxPending: 100,
}

func mustClaims(t *testing.T, l eventlog.Log) eventlog.Claims {
	t.Helper()
	cs, err := claimer(t, l).Claims(guard(t), eventlog.Topic, claimCfg)
	if err != nil {
		t.Fatalf("Claims: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// nextWithin is Next bounded by d.
func nextWithin(t *testing.T, cs eventlog.Claims, max int, d time.Duration) ([]eventlog.Claim, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(guard(t), d)
	defer cancel()
	return cs.Next(ctx, max)
}

// expectNone asserts that cs hands out nothing for d.
func expectNone(t *testing.T, cs eventlog.Claims, d time.Duration, why string) {
	t.Helper()
	got, err := nextWithin(t, cs, 10, d)
	if len(got) > 0 {
		t.Fatalf("%s: handed out entry %d (delivered %d)", why, got[0].Entry.Seq, got[0].Delivered)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: Next = %v, want the deadline to pass", why, err)
	}
}

// appendClaimable appends n entries the queue hands out, with one it
// does not between each, and returns the former's UUIDs.
func appendClaimable(t *testing.T, l eventlog.Log, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		name := claimCfg.Names[i%2]
		m := msg(name, []byte(`{}`))
		mustAppend(t, l, eventlog.Topic, m, msg("test.other.v1", []byte(`{}`)))
		ids = append(ids, m.UUID)
	}
	return ids
}

// testClaimsShared: two Logs claim from one queue, each finishing what it
// gets at once: between them they get each entry once, and none of
// another name.
func testClaimsShared(t *testing.T, open func() eventlog.Log) {
	a, b := open(), open()
	want := appendClaimable(t, a, 20) // before the queue exists
	ca, cb := mustClaims(t, a), mustClaims(t, b)
	want = append(want, appendClaimable(t, b, 20)...)

	var mu sync.Mutex
	got := map[string]int{}
	ctx, cancel := context.WithCancel(guard(t))
	defer cancel()
	var wg sync.WaitGroup
	for _, cs := range []eventlog.Claims{ca, cb} {
		wg.Go(func() {
			for {
				claims, err := cs.Next(ctx, 3)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					t.Errorf("Next: %v", err)
					return
				}
				for _, c := range claims {
					if n := c.Entry.Name(); n != claimCfg.Names[0] && n != claimCfg.Names[1] {
						t.Errorf("entry %d named %q handed out", c.Entry.Seq, n)
					}
					if c.Delivered != 1 {
						t.Errorf("entry %d delivered %d times, want 1 (both claimants finish at once)", c.Entry.Seq, c.Delivered)
					}
					if err := c.Done(); err != nil {
						t.Errorf("Done: %v", err)
					}
					mu.Lock()
					got[c.Entry.UUID]++
					if len(got) == len(want) {
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, id := range want {
		if got[id] != 1 {
			t.Fatalf("entry %s handed out %d times, want once", id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries handed out, want %d", len(got), len(want))
	}
}

// testClaimRedelivered: a claim neither done nor extended goes to the
// other claimant once its lease ends, marked as delivered twice.
func testClaimRedelivered(t *testing.T, open func() eventlog.Log) {
	a, b := open(), open()
	ca, cb := mustClaims(t, a), mustClaims(t, b)
	id := appendClaimable(t, a, 1)[0]
	first, err := nextWithin(t, ca, 1, hangGuard)
	if err != nil || len(first) != 1 || first[0].Entry.UUID != id {
		t.Fatalf("first claim = %v, %v; want the entry", first, err)
	}
	// a does not finish it: within the lease and a margin, b gets it.
	again, err := nextWithin(t, cb, 1, claimLease+5*time.Second)
	if err != nil || len(again) != 1 {
		t.Fatalf("Next on the other claimant after the lease = %v, %v; want the entry again", again, err)
	}
	if again[0].Entry.UUID != id || again[0].Delivered != 2 {
		t.Fatalf("handed out again: entry %s delivered %d; want %s delivered 2", again[0].Entry.UUID, again[0].Delivered, id)
	}
	if err := again[0].Done(); err != nil {
		t.Fatal(err)
	}
	expectNone(t, ca, claimLease+500*time.Millisecond, "after the second claimant's Done")
}

// testClaimExtend: a claim extended within each lease stays with its
// claimant for several leases.
func testClaimExtend(t *testing.T, open func() eventlog.Log) {
	a, b := open(), open()
	ca, cb := mustClaims(t, a), mustClaims(t, b)
	appendClaimable(t, a, 1)
	got, err := nextWithin(t, ca, 1, hangGuard)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim = %v, %v", got, err)
	}
	stop := make(chan struct{})
	extended := make(chan error, 1)
	go func() {
		tick := time.NewTicker(claimLease / 4)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				extended <- nil
				return
			case <-tick.C:
				if err := got[0].Extend(); err != nil {
					extended <- err
					return
				}
			}
		}
	}()
	expectNone(t, cb, 3*claimLease, "while the first claimant extends its claim")
	close(stop)
	if err := <-extended; err != nil {
		t.Fatalf("Extend: %v", err)
	}
	if err := got[0].Done(); err != nil {
		t.Fatal(err)
	}
	expectNone(t, cb, claimLease+500*time.Millisecond, "after Done")
}

// testClaimDoneDurable: once Done returns, the entry is not handed out
// again, to a Log opened afterwards either, while new entries are.
func testClaimDoneDurable(t *testing.T, open func() eventlog.Log) {
	a := open()
	ca := mustClaims(t, a)
	appendClaimable(t, a, 2)
	got, err := nextWithin(t, ca, 2, hangGuard)
	for err == nil && len(got) < 2 {
		var more []eventlog.Claim
		more, err = nextWithin(t, ca, 2, hangGuard)
		got = append(got, more...)
	}
	if err != nil {
		t.Fatalf("claims = %v, %v", got, err)
	}
	for _, c := range got {
		if err := c.Done(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	c := open()
	cc := mustClaims(t, c)
	expectNone(t, cc, claimLease+time.Second, "after Done, on a Log opened later")
	id := appendClaimable(t, c, 1)[0]
	next, err := nextWithin(t, cc, 1, hangGuard)
	if err != nil || len(next) != 1 || next[0].Entry.UUID != id || next[0].Delivered != 1 {
		t.Fatalf("Next after a new append = %v, %v; want the new entry, delivered once", next, err)
	}
}

// testClaimsClose: Close ends a waiting Next with ErrClosed, and so does
// closing the Log.
func testClaimsClose(t *testing.T, open func() eventlog.Log) {
	l := open()
	for _, stop := range []func(eventlog.Claims) error{
		func(cs eventlog.Claims) error { return cs.Close() },
		func(eventlog.Claims) error { return l.Close() },
	} {
		cs := mustClaims(t, l)
		done := make(chan error, 1)
		go func() {
			_, err := cs.Next(guard(t), 1)
			done <- err
		}()
		if err := stop(cs); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, eventlog.ErrClosed) {
			t.Fatalf("Next after Close: %v, want ErrClosed", err)
		}
	}
}
