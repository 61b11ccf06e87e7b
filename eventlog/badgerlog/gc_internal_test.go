package badgerlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hookd/hookd/internal/badgerdb/badgertest"
	"github.com/hookd/hookd/internal/testkit"
)

// The store runs GC in the background every ValueLogGCInterval, and only
// then does the value log shrink; Close waits for the GC to stop.
func TestStoreCollectsValueLogInBackground(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{
		{"gc every 10ms", 10 * time.Millisecond},
		{"gc off", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := &testkit.SyncBuffer{}
			logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			opts := Options{Logger: logger, ValueLogGCInterval: tc.interval, tuneBadger: badgertest.SmallValueLog}
			s, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Large states overwritten again and again, as the old
			// dispatcher checkpoint did.
			live := badgertest.Garbage(t, s.PutState, func(k string) error {
				return s.db.Update(func(txn *badger.Txn) error { return txn.Delete(stateKey(k)) })
			}, badgertest.GCKeys, badgertest.GCRounds)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			written := badgertest.ValueLogBytes(t, dir)

			s, err = Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			badgertest.WaitForLevel0Compaction(t, s.db)
			if tc.interval > 0 {
				deadline := time.Now().Add(20 * time.Second)
				for badgertest.ValueLogBytes(t, dir) > written/3 {
					if time.Now().After(deadline) {
						t.Fatalf("value log still %d bytes (%d written) after 20s of GC every %s", badgertest.ValueLogBytes(t, dir), written, tc.interval)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			for k, v := range live {
				got, err := s.State(k)
				if err != nil || !bytes.Equal(got, v) {
					t.Fatalf("state %s after GC: %d bytes, %v; want the last %d written", k, len(got), err, len(v))
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-s.gc.Done():
			default:
				t.Fatal("the value-log GC goroutine outlived Close")
			}
			after := badgertest.ValueLogBytes(t, dir)
			t.Logf("value log: %d bytes written, %d after compaction and closing", written, after)
			if tc.interval < 0 && after < written*9/10 {
				t.Errorf("without GC the value log shrank from %d to %d bytes; want it kept", written, after)
			}
			out := logs.String()
			if tc.interval > 0 && !strings.Contains(out, `msg="value log GC rewrote files" component=value-log-gc db="event log"`) {
				t.Errorf("no debug record of what GC reclaimed in the logs:\n%s", out)
			}
			if strings.Contains(out, "value log GC failed") {
				t.Errorf("GC failed:\n%s", out)
			}
		})
	}
}
