package badgerlog_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/hookd/hookd/eventlog"
)

// TestLargeAppendNeverSinksOthersInItsGroup: appends that each fit in one
// transaction all succeed however they are grouped, even when a large one
// arrives while many others wait: a group never grows past the limit by
// taking in a request that does not fit.
func TestLargeAppendNeverSinksOthersInItsGroup(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	ctx := testContext(t)
	small := bytes.Repeat([]byte("s"), 20<<10)  // under the value threshold: counted whole
	large := make([]eventlog.AppendMessage, 48) // about 1.24 MB: fits a transaction alone, not with others
	for i := range large {
		large[i] = eventlog.AppendMessage{UUID: fmt.Sprint("large-", i), Payload: bytes.Repeat([]byte("l"), 25<<10)}
	}
	for round := range 10 {
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := store.Append(ctx, eventlog.Topic, eventlog.AppendMessage{UUID: fmt.Sprint("small-", round, "-", g), Payload: small}); err != nil {
					errs <- fmt.Errorf("small append: %w", err)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := store.Append(ctx, eventlog.Topic, large...); err != nil {
				errs <- fmt.Errorf("large append of %d entries: %w", len(large), err)
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
