package metrics

import "github.com/prometheus/client_golang/prometheus"

// Health is what the service knows of its own state, read when scraped.
// A nil function leaves its series out.
type Health struct {
	// DiskFree and DiskReserve are the data directory filesystem's free
	// bytes and the reserve kept on it (--min-free-disk).
	DiskFree, DiskReserve func() float64
	// AppendsHeld is 1 while the disk reserve refuses appends.
	AppendsHeld func() float64
	// LogDamaged is 1 once the background verification found damage.
	LogDamaged func() float64
	// LogVerifiedHead is the head of the last verification that found the
	// whole hash chain intact (0 before the first).
	LogVerifiedHead func() float64
}

// WatchHealth registers hookd_disk_free_bytes, hookd_disk_reserve_bytes,
// hookd_appends_held, hookd_log_damaged and hookd_log_verified_head_sequence.
func (m *Metrics) WatchHealth(h Health) error {
	for _, g := range []struct {
		name, help string
		f          func() float64
	}{
		{"hookd_disk_free_bytes", "Free bytes on the data directory's filesystem, as measured last.", h.DiskFree},
		{"hookd_disk_reserve_bytes", "Free bytes hookd keeps on the data directory's filesystem (--min-free-disk); below it appends are refused.", h.DiskReserve},
		{"hookd_appends_held", "1 while appends are refused because the data directory's filesystem is below its reserve, else 0.", h.AppendsHeld},
		{"hookd_log_damaged", "1 once the background verification of the hash chain found the log damaged (appends then stop), else 0.", h.LogDamaged},
		{"hookd_log_verified_head_sequence", "Head of the last background verification that found the whole hash chain intact; 0 before the first.", h.LogVerifiedHead},
	} {
		if g.f == nil {
			continue
		}
		if err := m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.name, Help: g.help}, g.f)); err != nil {
			return err
		}
	}
	return nil
}
