package testkit_test

import (
	"fmt"
	"sync"
	"testing"
)

// fakeTB is a testing.TB that records Fatalf and Errorf instead of
// stopping the test; everything else goes to the real test.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	fatals []string
	errors []string
}

func newFakeTB(t *testing.T) *fakeTB { return &fakeTB{TB: t} }

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) failures() (fatals, errors []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.fatals...), append([]string(nil), f.errors...)
}
