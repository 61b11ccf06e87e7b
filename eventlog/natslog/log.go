package natslog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
)

var (
	_ eventlog.Log          = (*Log)(nil)
	_ eventlog.GroupOffsets = (*Log)(nil)
	_ eventlog.Importer     = (*Log)(nil)
	_ eventlog.Claimer      = (*Log)(nil)
	_ eventlog.Leases       = (*Log)(nil)
)

// Log is an eventlog.Log on NATS JetStream. Any number of Logs, in any
// number of processes, may share one stream.
type Log struct {
	cfg    Config
	logger *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	kv     jetstream.KeyValue

	appends chan *appendRequest // bounded: Append waits when it is full
	// sendMu orders Append's hand-over against Close, so every request
	// handed to the writer is answered.
	sendMu     sync.RWMutex
	closed     bool
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once

	// initMu serialises creating topics' streams (rare, and network I/O).
	initMu sync.Mutex

	// bg is the background work that Close stops and waits for (the head
	// poll, lease renewals); bgCtx ends when the log starts closing.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc

	leaseMu   sync.Mutex
	leaseKV   jetstream.KeyValue // <Stream>_leases, made on first Acquire
	leaseHeld map[*lease]struct{}

	mu      sync.Mutex
	topics  map[string]*topicState
	refused error
}

// MinMaxPayload is the least max_payload Open accepts of the NATS
// servers: NATS's default, 1 MiB, is less than one of hookd's largest
// entries.
const MinMaxPayload = 4 << 20

// Open connects to NATS, creates or updates the stream of eventlog.Topic
// and the offsets bucket, and starts the writer. The stream is updated to
// the configuration when it exists; JetStream refuses changes it cannot
// make (such as the storage type), and Open then fails saying so.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	l := &Log{
		cfg:        cfg,
		logger:     cfg.Logger,
		appends:    make(chan *appendRequest, 1024),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
		topics:     map[string]*topicState{},
		leaseHeld:  map[*lease]struct{}{},
	}
	l.bgCtx, l.bgCancel = context.WithCancel(context.Background())
	opts := []nats.Option{
		nats.Name("hookd"),
		// While the servers are away the log reports itself unavailable
		// (Writable) and keeps trying, rather than giving up for good.
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			l.logger.Warn("disconnected from NATS; appends wait until it is back", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			l.logger.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
	}
	nc, err := nats.Connect(cfg.URL, append(opts, cfg.Options...)...)
	if err != nil {
		return nil, fmt.Errorf("natslog: connect to %s: %w", RedactURLs(cfg.URL), err)
	}
	l.nc = nc
	if v := nc.ConnectedServerVersion(); !atLeastVersion(v, 2, 15) {
		nc.Close()
		return nil, fmt.Errorf("natslog: the NATS server is version %s; hookd needs 2.15 or later "+
			"(it appends in atomic batches that carry message ids): upgrade the servers", v)
	}
	if mp := nc.MaxPayload(); mp < MinMaxPayload {
		nc.Close()
		return nil, fmt.Errorf("natslog: the NATS server's max_payload is %d bytes; hookd's entries reach about 2.5 MiB "+
			"(a 1 MiB build event or request body, recorded again with what was sent and what came back): "+
			"set max_payload: 8MB in every NATS server's configuration", mp)
	}
	l.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(2*importWindow),
		jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natslog: %w", err)
	}
	if _, err := l.topic(ctx, eventlog.Topic); err != nil {
		l.stopAll()
		return nil, err
	}
	l.kv, err = l.ensureBucket(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Stream + "_offsets",
		Description: "hookd consumer group offsets",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		l.stopAll()
		return nil, fmt.Errorf("natslog: create the offsets bucket %s_offsets: %w", cfg.Stream, err)
	}
	go l.writeLoop()
	l.bg.Go(l.pollHeads)
	return l, nil
}

// Close stops taking appends, answers those already taken, releases the
// leases held through it (another process may take them at once), stops
// the watchers, claims and polls, and closes the connection. Later calls
// return nil.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.sendMu.Lock()
		l.closed = true
		l.sendMu.Unlock()
		close(l.closing)
		if l.kv != nil { // the writer was started
			<-l.writerDone
		}
		l.releaseAll()
		l.bgCancel()
		l.bg.Wait()
		l.stopAll()
	})
	return nil
}

func (l *Log) stopAll() {
	l.bgCancel()
	l.mu.Lock()
	for _, ts := range l.topics {
		if ts.watch != nil {
			ts.watch.Stop()
		}
	}
	l.mu.Unlock()
	l.nc.Close()
}

// Closing is closed when the log starts closing.
func (l *Log) Closing() <-chan struct{} { return l.closing }

func (l *Log) isClosing() bool {
	select {
	case <-l.closing:
		return true
	default:
		return false
	}
}

// Err reports ErrClosed once closing, Refuse's error, or nil. A lost
// connection is not an Err: it passes (see Writable).
func (l *Log) Err() error {
	if l.isClosing() {
		return eventlog.ErrClosed
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

// Writable is Err that also asks whether the connection is up: while it
// is not, an error wrapping eventlog.ErrUnavailable.
func (l *Log) Writable() error {
	if err := l.Err(); err != nil {
		return err
	}
	if st := l.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("%w: not connected to NATS (%s)", eventlog.ErrUnavailable, st)
	}
	return nil
}

// Refuse stops this Log taking appends until it is reopened; other
// processes on the stream are not told.
func (l *Log) Refuse(err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refused == nil {
		l.refused = err
	}
}

// RedactURLs is a comma-separated list of server addresses with only their
// hosts: credentials may be inside a URL. For logs and errors.
func RedactURLs(urls string) string {
	out := ""
	for i, u := range splitURLs(urls) {
		if i > 0 {
			out += ","
		}
		out += hostOnly(u)
	}
	return out
}

// atLeastVersion reports whether a server version "2.15.2" (perhaps with
// a suffix such as "-beta") is at least major.minor.
func atLeastVersion(v string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(v, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
