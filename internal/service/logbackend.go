package service

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hookd/hookd/eventlog/natslog"
)

// LogConfig says where the event log lives: the embedded Badger log in
// the data directory (the default), or a NATS JetStream stream that
// several hookd processes share.
type LogConfig struct {
	// URL is "" for the embedded log, or one or more NATS servers:
	// "nats://h1:4222,nats://h2:4222" (--log, HOOKD_LOG).
	URL string
	// Stream names the JetStream stream (--nats-stream). Default HOOKD.
	Stream string
	// Replicas is the stream's replica count when hookd creates it
	// (--nats-replicas): 1, or 3 on a three-node cluster.
	Replicas int
	// Creds is a NATS credentials file (--nats-creds).
	Creds string
	// TLSCA, TLSCert and TLSKey are PEM files: the CA to trust the
	// servers by, and a client certificate and key (--nats-tls-*).
	TLSCA, TLSCert, TLSKey string
}

// streamName is the stream's name as natslog defaults it.
func (c LogConfig) streamName() string {
	if c.Stream == "" {
		return "HOOKD"
	}
	return c.Stream
}

// NATS reports whether the log is on JetStream.
func (c LogConfig) NATS() bool { return c.URL != "" }

// Validate checks the URL's form: every address nats:// or tls://.
func (c LogConfig) Validate() error {
	if !c.NATS() {
		if c.Creds != "" || c.TLSCA != "" || c.TLSCert != "" || c.TLSKey != "" {
			return fmt.Errorf("--nats-creds and --nats-tls-* need --log nats://HOST:PORT")
		}
		return nil
	}
	for _, u := range strings.Split(c.URL, ",") {
		u = strings.TrimSpace(u)
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			return fmt.Errorf("--log %q: want nats://HOST:PORT[,nats://HOST:PORT...] (or tls://), or nothing for the embedded log in --data", u)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--nats-tls-cert and --nats-tls-key go together")
	}
	return nil
}

// natsOpenTimeout bounds connecting to NATS and setting the stream up at
// start: a cluster that is not there is an error, not a hang.
const natsOpenTimeout = 30 * time.Second

// OpenNATS connects to the JetStream log c names, creating or updating
// its stream. The log tools and `serve` use it.
func OpenNATS(ctx context.Context, c LogConfig, logger *slog.Logger) (*natslog.Log, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var opts []nats.Option
	if c.Creds != "" {
		opts = append(opts, nats.UserCredentials(c.Creds))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	ctx, cancel := context.WithTimeout(ctx, natsOpenTimeout)
	defer cancel()
	l, err := natslog.Open(ctx, natslog.Config{URL: c.URL, Stream: c.Stream, Replicas: c.Replicas, Options: opts, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("open the event log on NATS (--log %s): %w", natslog.RedactURLs(c.URL), err)
	}
	return l, nil
}

// stateDir is where a process on a shared log keeps its own dispatcher
// state (its position and hooks; the log itself is on NATS).
func stateDir(data string) string { return filepath.Join(data, "state") }
