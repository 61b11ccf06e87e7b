package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Position reads a sequence number in the log: its head, or the last
// entry a consumer has handled.
type Position func() (uint64, error)

// WatchLog registers hookd_log_head_sequence, read from head, and
// hookd_consumer_lag{group} for each consumer group, the head minus the
// group's position, all read when scraped. A position that cannot be read
// is reported as a collection error and its series left out.
func (m *Metrics) WatchLog(head Position, consumers map[string]Position) error {
	c := &logCollector{
		head: head,
		headDesc: prometheus.NewDesc("hookd_log_head_sequence",
			"Sequence of the last entry in the event log.", nil, nil),
		lagDesc: prometheus.NewDesc("hookd_consumer_lag",
			"Entries appended to the log that a consumer group (dispatcher, projections) has not handled yet.",
			[]string{"group"}, nil),
	}
	for g := range consumers {
		c.groups = append(c.groups, g)
	}
	slices.Sort(c.groups)
	for _, g := range c.groups {
		c.positions = append(c.positions, consumers[g])
	}
	return m.reg.Register(c)
}

type logCollector struct {
	head      Position
	groups    []string
	positions []Position
	headDesc  *prometheus.Desc
	lagDesc   *prometheus.Desc
}

func (c *logCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.headDesc
	ch <- c.lagDesc
}

func (c *logCollector) Collect(ch chan<- prometheus.Metric) {
	// Positions first, then the head: the head only grows, so it is at
	// least every position read before it and no lag comes out negative.
	pos := make([]uint64, len(c.positions))
	errs := make([]error, len(c.positions))
	for i, p := range c.positions {
		pos[i], errs[i] = p()
	}
	head, err := c.head()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.headDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.headDesc, prometheus.GaugeValue, float64(head))
	for i, g := range c.groups {
		if errs[i] != nil {
			ch <- prometheus.NewInvalidMetric(c.lagDesc, errs[i])
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.lagDesc, prometheus.GaugeValue, float64(head-min(head, pos[i])), g)
	}
}
