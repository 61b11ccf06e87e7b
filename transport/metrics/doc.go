// Package metrics owns hookd's Prometheus collectors. The core packages do
// not import Prometheus: they take optional hooks in their configs
// (webhook.DispatcherConfig.Observer, eventlog.Options.OnAppend,
// httpapi.Config.ObserveRequest), and *Metrics has a small method for each.
// Log positions (head, consumer lag) are read at scrape time through
// functions handed to WatchLog.
//
// Nothing is global: NewRegistry makes a registry with the Go and process
// collectors, New registers hookd's collectors on it, and Handler serves it.
//
// Metrics:
//
//	hookd_deliveries_total{outcome,event_type}        counter: delivery attempts made; outcome is 2xx, 3xx, 4xx, 5xx or error
//	hookd_delivery_duration_seconds{outcome}          histogram: time to send one delivery
//	hookd_deliveries_in_flight                        gauge: deliveries being sent or recorded now
//	hookd_log_appends_total                           counter: entries durably appended to the log
//	hookd_log_append_duration_seconds                 histogram: one successful Append call, group commit and fsync included
//	hookd_log_append_errors_total                     counter: Append calls that failed
//	hookd_log_head_sequence                           gauge: sequence of the log's last entry
//	hookd_consumer_lag{group}                         gauge: entries between the head and a consumer's position
//	hookd_http_requests_total{route,method,code}      counter: API requests by route template
//	hookd_http_request_duration_seconds{route,method} histogram: time to answer them
package metrics
