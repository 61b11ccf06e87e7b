package natslog_test

import (
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"

	"github.com/hookd/hookd/eventlog/natslog"
)

var streams atomic.Int64

// freshConfig returns a Config for a stream no other test uses, on url.
func freshConfig(url string) natslog.Config {
	n := streams.Add(1)
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("NATSLOG_DEBUG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return natslog.Config{
		URL:     url,
		Stream:  fmt.Sprintf("T%d", n),
		Subject: fmt.Sprintf("t%d.events", n),
		Logger:  logger,
	}
}

func openLog(t *testing.T, cfg natslog.Config) *natslog.Log {
	t.Helper()
	l, err := natslog.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}
