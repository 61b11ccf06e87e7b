package natslog_test

import (
	"testing"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/logtest"
	"github.com/hookd/hookd/internal/natstest"
)

func TestContract(t *testing.T) {
	srv := natstest.RunServer(t)
	logtest.Run(t, func(t *testing.T) eventlog.Log { return openLog(t, freshConfig(srv.URL)) })
}

// TestContractShared runs the suite's two-process subtests: two Logs,
// each with its own connection, on one stream.
func TestContractShared(t *testing.T) {
	t.Parallel() // mostly waits (leases, elections): overlap it with others
	srv := natstest.RunServer(t)
	logtest.RunShared(t, func(t *testing.T) (eventlog.Log, eventlog.Log) {
		cfg := freshConfig(srv.URL)
		return openLog(t, cfg), openLog(t, cfg)
	})
}

// TestContractSharedOnCluster runs the two-process subtests on a
// three-node cluster with three replicas, each Log connected to another
// node: direct gets may be answered by a replica behind the leader, and
// the leader checks message ids before expected sequences.
func TestContractSharedOnCluster(t *testing.T) {
	t.Parallel() // mostly waits (leases, elections): overlap it with others
	c := natstest.RunCluster(t)
	logtest.RunShared(t, func(t *testing.T) (eventlog.Log, eventlog.Log) {
		a, b := freshConfig(c.NodeURL(0)), freshConfig(c.NodeURL(1))
		a.Replicas = 3
		b.Replicas, b.Stream, b.Subject = 3, a.Stream, a.Subject
		return openLog(t, a), openLog(t, b)
	})
}

// TestContractReopen runs the subtests that open the stream again, as a
// restarted process would.
func TestContractReopen(t *testing.T) {
	srv := natstest.RunServer(t)
	logtest.RunReopen(t, reopener(srv.URL))
}
