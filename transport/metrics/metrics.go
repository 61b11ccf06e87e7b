package metrics

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Delivery outcomes: the receiver's status class, or OutcomeError when no
// response arrived (timeout, refused connection, refused address, not sent)
// or one arrived with an error (its body cut off).
const (
	Outcome2xx   = "2xx"
	Outcome3xx   = "3xx"
	Outcome4xx   = "4xx"
	Outcome5xx   = "5xx"
	OutcomeError = "error"
)

var outcomes = []string{Outcome2xx, Outcome3xx, Outcome4xx, Outcome5xx, OutcomeError}

// Outcome classifies a delivery: the status class of its response, or
// OutcomeError when it has no response in 200-599 or has an error, whatever
// its status: a 200 whose body was cut off is not a success.
func Outcome(status int, err string) string {
	if err != "" {
		return OutcomeError
	}
	switch status / 100 {
	case 2:
		return Outcome2xx
	case 3:
		return Outcome3xx
	case 4:
		return Outcome4xx
	case 5:
		return Outcome5xx
	}
	return OutcomeError
}

// Bucket bounds, in seconds. Deliveries are bounded by the send timeout
// (10 s by default); appends are dominated by the group commit's fsync
// (under a millisecond on a quiet disk).
var (
	deliveryBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	appendBuckets   = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}
	httpBuckets     = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5}
)

// Metrics holds hookd's collectors. A nil *Metrics is valid and records
// nothing, so it can be handed to the hooks unconditionally.
type Metrics struct {
	reg prometheus.Registerer

	deliveries       *prometheus.CounterVec
	deliveryDuration *prometheus.HistogramVec
	inFlight         prometheus.Gauge

	appends        prometheus.Counter
	appendDuration prometheus.Histogram
	appendErrors   prometheus.Counter

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
}

// NewRegistry returns an empty registry with the Go runtime and process
// collectors registered.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// New registers hookd's delivery, log append and HTTP collectors on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		reg: reg,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_deliveries_total",
			Help: "Delivery attempts made, by outcome (2xx, 3xx, 4xx, 5xx, or error when no whole response arrived) and build event type.",
		}, []string{"outcome", "event_type"}),
		deliveryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookd_delivery_duration_seconds",
			Help:    "Time to send one delivery and get its response, by outcome.",
			Buckets: deliveryBuckets,
		}, []string{"outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookd_deliveries_in_flight",
			Help: "Deliveries being sent or recorded now.",
		}),
		appends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_log_appends_total",
			Help: "Entries durably appended to the event log.",
		}),
		appendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookd_log_append_duration_seconds",
			Help:    "Time of one successful append to the event log (one call, any number of entries), group commit and fsync included.",
			Buckets: appendBuckets,
		}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_log_append_errors_total",
			Help: "Appends to the event log that failed (log unavailable, closed, or the caller gave up).",
		}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookd_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template and method.",
			Buckets: httpBuckets,
		}, []string{"route", "method"}),
	}
	for _, c := range []prometheus.Collector{
		m.deliveries, m.deliveryDuration, m.inFlight,
		m.appends, m.appendDuration, m.appendErrors,
		m.httpRequests, m.httpDuration,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every outcome's series exists from the start, so rates work at once.
	for _, o := range outcomes {
		m.deliveryDuration.WithLabelValues(o)
	}
	return m, nil
}

// DeliveryStarted counts a delivery in flight; webhook.Observer.
func (m *Metrics) DeliveryStarted() {
	if m == nil {
		return
	}
	m.inFlight.Inc()
}

// DeliveryFinished records a finished delivery and ends its time in
// flight; status is the response's (0 for none), errMsg the delivery's
// error ("" for none); webhook.Observer.
func (m *Metrics) DeliveryFinished(eventType string, status int, errMsg string, d time.Duration) {
	if m == nil {
		return
	}
	o := Outcome(status, errMsg)
	m.deliveries.WithLabelValues(o, eventType).Inc()
	m.deliveryDuration.WithLabelValues(o).Observe(d.Seconds())
	m.inFlight.Dec()
}

// LogAppended records one Append call of entries entries that took d;
// eventlog.Options.OnAppend.
func (m *Metrics) LogAppended(entries int, d time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.appendErrors.Inc()
		return
	}
	m.appends.Add(float64(entries))
	m.appendDuration.Observe(d.Seconds())
}

// HTTPRequest records an answered request; route is the router's path
// template, never the raw path, so the series stay few;
// httpapi.Config.ObserveRequest.
func (m *Metrics) HTTPRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// Handler serves g's metrics in the Prometheus text (or negotiated)
// format. A collector that fails (a log position that cannot be read)
// is logged and left out; the rest are still served.
func Handler(g prometheus.Gatherer, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
	})
}
