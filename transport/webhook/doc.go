// Package webhook sends deliveries: Sender is the outgoing HTTP client
// (timeouts, response cap, no redirects, the address guard at dial time)
// and Dispatcher is the Watermill handler that turns build events and
// redelivery requests from the log into POSTs and DeliveryAttempted events.
package webhook
