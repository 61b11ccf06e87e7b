package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// result is one scenario's row. Value and Baseline are in Unit; Ratio is
// Value/Baseline, so above 1 means hookd did more (for rates) or took
// longer (for latencies, where Unit is "ms").
type result struct {
	Scenario     string  `json:"scenario"`
	Unit         string  `json:"unit"`
	Value        float64 `json:"value"`
	Baseline     float64 `json:"baseline"`
	BaselineName string  `json:"baseline_name"`
	Ratio        float64 `json:"ratio"`

	// Latencies of hookd (or, for the raw rows, of the plain client) in ms.
	P50  float64 `json:"p50_ms,omitempty"`
	P99  float64 `json:"p99_ms,omitempty"`
	P999 float64 `json:"p999_ms,omitempty"`
	// The same for the baseline, where it has latencies.
	BaseP50  float64 `json:"baseline_p50_ms,omitempty"`
	BaseP99  float64 `json:"baseline_p99_ms,omitempty"`
	BaseP999 float64 `json:"baseline_p999_ms,omitempty"`

	// PeakRSS is VmHWM; PeakAnon the peak of RssAnon (the heap and other
	// private memory, without the file pages of Badger's mapped tables).
	PeakRSS   int64  `json:"peak_rss_bytes"`
	PeakAnon  int64  `json:"peak_rss_anon_bytes,omitempty"`
	PeakRSSOf string `json:"peak_rss_of"` // "hookd" or "hookbench"
	// On JetStream: PeakRSS and PeakAnon are the largest of the hookd
	// processes; PeakRSSEach has each one's VmHWM; NATSPeak* are nats-server's.
	PeakRSSEach  []int64 `json:"peak_rss_bytes_each,omitempty"`
	NATSPeakRSS  int64   `json:"nats_server_peak_rss_bytes,omitempty"`
	NATSPeakAnon int64   `json:"nats_server_peak_rss_anon_bytes,omitempty"`

	Count       int64          `json:"count"`   // operations measured
	Seconds     float64        `json:"seconds"` // how long they took
	Concurrency int            `json:"concurrency,omitempty"`
	Errors      int64          `json:"errors,omitempty"`
	Lost        int64          `json:"lost,omitempty"`
	Duplicates  int64          `json:"duplicates,omitempty"`
	Extra       map[string]any `json:"extra,omitempty"`
	Notes       []string       `json:"notes,omitempty"`

	once bool // receipts counted per Webhook-Id: its duplicates go in the line below the table
}

func (r *result) setRatio() {
	if r.Baseline > 0 {
		r.Ratio = r.Value / r.Baseline
	}
}

func (r *result) note(format string, a ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, a...))
}

func (r *result) extra(k string, v any) {
	if r.Extra == nil {
		r.Extra = map[string]any{}
	}
	r.Extra[k] = v
}

// legend says what each column means.
const legend = `- hookd / baseline: rates per second of wall time; for latency and query,
  the p99 in ms. ratio: hookd / baseline (for times: how many times the
  baseline's).
- raw: a plain Go client POSTs the same bodies with the same headers to the
  same receivers, with the concurrency hookd may use (min(--max-in-flight,
  receivers × --max-per-host)); latency column: one POST's round trip.
- fan-out, single: first build event sent to last delivery received;
  latency column: a build event's POST until its 202. "(JetStream, N
  processes)": N hookd serve processes on one local nats-server, hooks made
  through the first, build events sent round-robin to all N; --max-in-flight
  and --max-per-host are per process, so hookd may send N times the raw
  row's concurrency; peak RSS: each process's, then nats-server's.
- latency: a steady rate to one hook; from each event's 202 to its receipt
  (0 when the receipt came first). Baseline: a direct POST at the same rate,
  from its send to its receipt.
- isolation: an app with a hook to a receiver that never answers (H) and
  one to a fast receiver (F); deliveries to F per second, first send to F's
  last receipt; latency column: from a build event's 202 to F's receipt.
  Baseline: the same on a fresh hookd with only F.
- append: durable Publish calls in this process; latency column: one Publish.
  Baseline: one writer, batches of the same entries, db.Sync per batch.
- rebuild: projections.Rebuild into empty views; baseline: store.NewReader
  plus eventlog.DecodeEntry over the same log.
- query: sequential GETs of 50 items on one keep-alive connection; baseline:
  Views.ListDeliveryItems in this process.
- restart: hookd serve restarted on a generated log of a server that had
  finished its work, after a SIGTERM and after a SIGKILL during a burst of
  build events; "ready": from the process's start until /readyz answers
  200; "delivered": until a build event POSTed then reaches a receiver.
- peak RSS: VmHWM of the hookd process, or of hookbench for in-process rows
  (reset before each); anon: peak RssAnon (heap and other private memory,
  without the file pages of Badger's memory-mapped tables).
`

// writeReport prints the Markdown table and then one JSON line per result.
func writeReport(w io.Writer, results []*result) {
	fmt.Fprintln(w, "| scenario | hookd | baseline | ratio | p50 / p99 / p99.9 | peak RSS |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---:|")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n",
			r.Scenario, fmtValue(r.Value, r.Unit, r.Scenario), fmtBaseline(r), fmtRatio(r), fmtLatency(r), fmtRSS(r))
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, legend)
	var notes []string
	for _, r := range results {
		for _, n := range r.Notes {
			notes = append(notes, fmt.Sprintf("- %s: %s", r.Scenario, n))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.Join(notes, "\n"))
	}
	if line := duplicatesLine(results); line != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
	for _, r := range results {
		b, err := json.Marshal(r)
		if err != nil {
			fmt.Fprintf(w, "{\"scenario\":%q,\"error\":%q}\n", r.Scenario, err.Error())
			continue
		}
		fmt.Fprintln(w, string(b))
	}
}

func fmtValue(v float64, unit, scenario string) string {
	if strings.HasPrefix(scenario, "raw") {
		return "—"
	}
	return fmtNum(v, unit)
}

func fmtNum(v float64, unit string) string {
	if v <= 0 || math.IsNaN(v) {
		return "—"
	}
	if unit == "ms" {
		return fmt.Sprintf("%s ms", fmtMS(v))
	}
	return fmt.Sprintf("%s %s", thousands(v), unit)
}

func fmtBaseline(r *result) string {
	if r.Baseline <= 0 {
		return "—"
	}
	s := fmtNum(r.Baseline, r.Unit)
	if r.BaselineName != "" {
		s += " (" + r.BaselineName + ")"
	}
	return s
}

func fmtRatio(r *result) string {
	if r.Ratio <= 0 || strings.HasPrefix(r.Scenario, "raw") {
		return "—"
	}
	if r.Unit == "ms" {
		return fmt.Sprintf("%.2f× the time", r.Ratio)
	}
	return fmt.Sprintf("%.0f%%", 100*r.Ratio)
}

func fmtLatency(r *result) string {
	if r.P50 <= 0 && r.P99 <= 0 {
		return ""
	}
	s := fmtMS(r.P50) + " / " + fmtMS(r.P99)
	if r.P999 > 0 {
		s += " / " + fmtMS(r.P999)
	}
	return s + " ms"
}

// duplicatesLine says, for every row whose receipts were counted per
// Webhook-Id, how many arrived a second time (0 is exactly once).
func duplicatesLine(results []*result) string {
	var parts []string
	for _, r := range results {
		if r.once && r.Count > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r.Scenario, r.Duplicates))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Duplicates (a Webhook-Id received again): " + strings.Join(parts, ", ") + "."
}

func fmtRSS(r *result) string {
	if r.PeakRSS <= 0 {
		return "—"
	}
	if r.NATSPeakRSS > 0 || len(r.PeakRSSEach) > 0 {
		var each []string
		for _, v := range r.PeakRSSEach {
			each = append(each, mib(v))
		}
		s := fmt.Sprintf("%s MiB (hookd; anon max %s)", strings.Join(each, " / "), mib(r.PeakAnon))
		if r.NATSPeakRSS > 0 {
			s += fmt.Sprintf("; nats-server %s MiB", mib(r.NATSPeakRSS))
		}
		return s
	}
	if r.PeakAnon > 0 {
		return fmt.Sprintf("%s MiB (%s; anon %s)", mib(r.PeakRSS), r.PeakRSSOf, mib(r.PeakAnon))
	}
	return fmt.Sprintf("%s MiB (%s)", mib(r.PeakRSS), r.PeakRSSOf)
}

func mib(b int64) string {
	return thousands(float64(b) / (1 << 20))
}

// fmtMS prints milliseconds with about three significant digits.
func fmtMS(ms float64) string {
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f", ms)
	default:
		return fmt.Sprintf("%.2f", ms)
	}
}

// thousands formats v rounded to a whole number with comma separators.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// percentiles returns the p50, p99 and p99.9 of ds in milliseconds
// (nearest rank); zeros for no samples.
func percentiles(ds []time.Duration) (p50, p99, p999 float64) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		i = max(0, min(i, len(s)-1))
		return float64(s[i]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99), at(0.999)
}

// rate is n per second over d.
func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
