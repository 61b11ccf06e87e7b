package testkit

import (
	"testing"
	"time"
)

// The polling interval starts short, so a condition that soon holds is
// seen soon, and grows to a ceiling, so a long wait costs little.
const (
	firstPoll = time.Millisecond
	maxPoll   = 50 * time.Millisecond
)

// WaitUntil calls cond until it returns true and fails the test with
// t.Fatalf("timed out after <timeout> waiting for <what>") if it has not
// by the time timeout has passed. cond is called at once, then at
// intervals growing from 1 ms to 50 ms, and once more when the time is up.
// It may itself fail the test.
func WaitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	WaitUntilf(t, timeout, what, func() (bool, string) { return cond(), "" })
}

// WaitUntilf is WaitUntil for a condition that also describes what it saw
// (say "3 of 5 items"): the last description is added to the failure
// message, so a timeout says how far things got.
func WaitUntilf(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for interval := firstPoll; ; interval = min(2*interval, maxPoll) {
		ok, state := cond()
		if ok {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			if state != "" {
				t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, state)
			} else {
				t.Fatalf("timed out after %s waiting for %s", timeout, what)
			}
			return // for a testing.TB whose Fatalf returns
		}
		time.Sleep(min(interval, left))
	}
}
