package service

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/diskspace"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/metrics"
	"github.com/hookd/hookd/transport/webhook"
)

// projectionsGroup labels the views' lag in hookd_consumer_lag.
const projectionsGroup = "projections"

// newMetrics makes the registry /metrics serves (Go runtime and process
// collectors included) and hookd's collectors on it.
func newMetrics() (*prometheus.Registry, *metrics.Metrics, error) {
	reg := metrics.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		return nil, nil, err
	}
	return reg, m, nil
}

// watchLog adds the log's head and the lag of the dispatcher (from its
// position: the entries it has matched and queued) and of the views, all
// read when scraped.
func watchLog(m *metrics.Metrics, store eventlog.Log, runner *projections.Runner, d *webhook.Dispatcher) error {
	return m.WatchLog(
		func() (uint64, error) { return store.Head(eventlog.Topic) },
		map[string]metrics.Position{
			webhook.ConsumerGroup: func() (uint64, error) { return d.Position(), nil },
			projectionsGroup:      func() (uint64, error) { return runner.Applied(), nil },
		})
}

// watchHealth adds the disk reserve's and the log verifier's gauges.
func watchHealth(m *metrics.Metrics, disk *diskspace.Guard, v *eventlog.Verifier) error {
	bit := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	h := metrics.Health{
		LogDamaged: func() float64 { _, _, damage := v.Status(); return bit(damage != nil) },
		LogVerifiedHead: func() float64 {
			head, _, _ := v.Status()
			return float64(head)
		},
	}
	if disk != nil {
		h.DiskFree = func() float64 { u, _ := disk.Usage(); return float64(u.Free) }
		h.DiskReserve = func() float64 { _, r := disk.Usage(); return float64(r) }
		h.AppendsHeld = func() float64 { return bit(disk.Err() != nil) }
	}
	return m.WatchHealth(h)
}
