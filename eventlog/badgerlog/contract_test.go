package badgerlog_test

import (
	"testing"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/eventlog/logtest"
)

// TestContract holds the Badger adapter to the port's contract suite, the
// same one the JetStream adapter passes. (Its shared subtests need two
// processes on one log, which Badger does not allow.)
func TestContract(t *testing.T) {
	logtest.Run(t, func(t *testing.T) eventlog.Log {
		s, err := badgerlog.Open(t.TempDir(), badgerlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestContractReopen runs the subtests that reopen the log on its directory.
func TestContractReopen(t *testing.T) {
	logtest.RunReopen(t, func(t *testing.T) func() eventlog.Log {
		dir := t.TempDir()
		return func() eventlog.Log {
			s, err := badgerlog.Open(dir, badgerlog.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
	})
}
