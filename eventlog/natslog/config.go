package natslog

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
)

// Config configures a Log. Only a server address is required.
type Config struct {
	// URL is one or more server addresses, comma-separated, as nats.Connect
	// takes them: "nats://h1:4222,nats://h2:4222".
	URL string
	// URLs is more addresses, added to URL's.
	URLs []string
	// Stream names the stream that holds eventlog.Topic. Default "HOOKD".
	// Other topics get streams named from it (see doc.go).
	Stream string
	// Subject is the subject prefix of eventlog.Topic's messages: each is
	// published on <Subject>.<wire name>. Default eventlog.Topic.
	Subject string
	// Replicas is the streams' and the offsets bucket's replica count.
	// Default 1; use 3 on a cluster.
	Replicas int
	// Duplicates is how long the streams remember message ids (UUIDs) to
	// drop a retried publish. Default 2 minutes, JetStream's own.
	Duplicates time.Duration
	// MaxBytes, MaxMsgs and MaxAge limit the streams; 0 means no limit.
	// A limit refuses appends once reached (DiscardNew): entries are
	// never removed to make room.
	MaxBytes int64
	MaxMsgs  int64
	MaxAge   time.Duration
	// PublishTimeout bounds the wait for one publish's acknowledgement;
	// past it the append's outcome is unknown. Default 10 s.
	PublishTimeout time.Duration
	// RetryFor bounds how long the writer republishes an append whose
	// outcome is unknown (a lost ack, a leader election), with the same
	// UUIDs, before failing it with ErrUnavailable. It must stay inside
	// the duplicates window with a PublishTimeout to spare, so a retry is
	// never stored twice. Default 2 × PublishTimeout.
	RetryFor time.Duration
	// MaxBatch caps the messages the writer publishes in one atomic
	// batch: one round trip per batch. Default and maximum 1000,
	// JetStream's default limit per batch (server max_batch_size).
	MaxBatch int
	// HeadPoll is how often a Log that has callers waiting in WaitFor
	// reads the stream's last sequence from its leader, besides watching
	// it: a watcher that is down delays WaitFor by at most this. Default 1 s.
	HeadPoll time.Duration
	// Options are passed to nats.Connect after hookd's own (name,
	// reconnecting forever): credentials, TLS, and so on.
	Options []nats.Option
	// Logger receives the log's warnings and errors. Default: discard.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	var urls []string
	for _, u := range append(strings.Split(c.URL, ","), c.URLs...) {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return errors.New("natslog: no NATS server address: set the URL (nats://host:4222)")
	}
	c.URL = strings.Join(urls, ",")
	if c.Stream == "" {
		c.Stream = "HOOKD"
	}
	if !validStreamName(c.Stream) {
		return fmt.Errorf("natslog: stream name %q: use letters, digits, - and _ only", c.Stream)
	}
	if c.Subject == "" {
		c.Subject = eventlog.Topic
	}
	if !validSubjectPrefix(c.Subject) {
		return fmt.Errorf("natslog: subject prefix %q: use tokens of letters, digits, - and _ separated by dots", c.Subject)
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("natslog: %d replicas: JetStream allows 1 to 5", c.Replicas)
	}
	if c.Duplicates <= 0 {
		c.Duplicates = 2 * time.Minute
	}
	if c.MaxBytes < 0 || c.MaxMsgs < 0 || c.MaxAge < 0 {
		return errors.New("natslog: stream limits must be 0 (none) or positive")
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 10 * time.Second
	}
	if c.RetryFor <= 0 {
		c.RetryFor = 2 * c.PublishTimeout
	}
	if c.RetryFor+c.PublishTimeout >= c.Duplicates {
		return fmt.Errorf("natslog: RetryFor (%v) plus PublishTimeout (%v) must be shorter than the duplicates window (%v), or a retried append could be stored twice: lower them or raise Duplicates",
			c.RetryFor, c.PublishTimeout, c.Duplicates)
	}
	if c.MaxBatch <= 0 || c.MaxBatch > maxAtomicBatch {
		c.MaxBatch = maxAtomicBatch
	}
	if c.HeadPoll <= 0 {
		c.HeadPoll = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// streamConfig is the configuration of the stream holding one topic.
func (c *Config) streamConfig(name, subjectPrefix string) jetstream.StreamConfig {
	maxBytes, maxMsgs := c.MaxBytes, c.MaxMsgs
	if maxBytes == 0 {
		maxBytes = -1
	}
	if maxMsgs == 0 {
		maxMsgs = -1
	}
	return jetstream.StreamConfig{
		Name:        name,
		Description: "hookd event log",
		Subjects:    []string{subjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		MaxBytes:    maxBytes,
		MaxMsgs:     maxMsgs,
		MaxAge:      c.MaxAge,
		// A full stream refuses appends instead of dropping old entries:
		// the log is the system of record.
		Discard:     jetstream.DiscardNew,
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		Duplicates:  c.Duplicates,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
		// The writer publishes each round as one atomic batch (batch.go).
		AllowAtomicPublish: true,
	}
}

// maxAtomicBatch is JetStream's default limit of messages in one atomic
// batch (nats-server streamDefaultMaxAtomicBatchSize).
const maxAtomicBatch = 1000
