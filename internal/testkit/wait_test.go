package testkit_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
)

func TestWaitUntilReturnsAtOnceWhenTheConditionHolds(t *testing.T) {
	f := newFakeTB(t)
	calls := 0
	testkit.WaitUntil(f, time.Hour, "nothing", func() bool { calls++; return true })
	if fatals, _ := f.failures(); calls != 1 || len(fatals) != 0 {
		t.Fatalf("cond called %d times, failures %q; want once and none", calls, fatals)
	}
}

func TestWaitUntilPollsUntilTheConditionHolds(t *testing.T) {
	f := newFakeTB(t)
	calls := 0
	testkit.WaitUntil(f, time.Hour, "the fifth call", func() bool { calls++; return calls == 5 })
	if fatals, _ := f.failures(); calls != 5 || len(fatals) != 0 {
		t.Fatalf("cond called %d times, failures %q; want 5 and none", calls, fatals)
	}
}

func TestWaitUntilFailsWithWhatItWaitedForAfterTheTimeout(t *testing.T) {
	f := newFakeTB(t)
	const timeout = 30 * time.Millisecond
	calls := 0
	began := time.Now()
	testkit.WaitUntil(f, timeout, "the thing", func() bool { calls++; return false })
	took := time.Since(began)
	want := []string{"timed out after 30ms waiting for the thing"}
	if fatals, _ := f.failures(); !slices.Equal(fatals, want) {
		t.Fatalf("failures %q, want %q", fatals, want)
	}
	if took < timeout || calls < 2 {
		t.Errorf("gave up after %s and %d calls; want at least %s, and a last call when the time was up", took, calls, timeout)
	}
}

func TestWaitUntilfSaysWhatItLastSaw(t *testing.T) {
	f := newFakeTB(t)
	n := 0
	testkit.WaitUntilf(f, 10*time.Millisecond, "ten items", func() (bool, string) {
		n = min(n+1, 3)
		return false, fmt.Sprintf("%d items", n)
	})
	want := []string{"timed out after 10ms waiting for ten items; last: 3 items"}
	if fatals, _ := f.failures(); !slices.Equal(fatals, want) {
		t.Fatalf("failures %q, want %q", fatals, want)
	}
}
