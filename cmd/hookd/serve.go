package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/sealer"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/httpapi"
	"github.com/hookd/hookd/transport/metrics"
	"github.com/hookd/hookd/transport/webhook"
	"github.com/hookd/hookd/transport/webui"
)

// dataDirs are where the log and the views live under --data.
func dataDirs(data string) (logDir, viewsDir string) {
	return filepath.Join(data, "log"), filepath.Join(data, "views")
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	key, keySource, err := sealer.LoadKey(getenv("HOOKD_SECRET_KEY"), cfg.data)
	if err != nil {
		return err
	}
	secrets, err := sealer.New(key)
	if err != nil {
		return err
	}
	logger.Info("hook secrets are sealed at rest", "key", keySource)
	logDir, viewsDir := dataDirs(cfg.data)
	reg, obs, err := newMetrics()
	if err != nil {
		return err
	}
	store, err := eventlog.Open(logDir, eventlog.Options{Logger: logger, OnAppend: obs.LogAppended})
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			logger.Error("closing the event log", "err", err)
		}
	}()
	views, err := projections.OpenViews(viewsDir, logger)
	if err != nil {
		return err
	}
	defer func() {
		if err := views.Close(); err != nil {
			logger.Error("closing the views", "err", err)
		}
	}()
	runner, err := projections.NewRunner(store, views, logger)
	if err != nil {
		return err
	}
	if err := watchLog(obs, store, runner); err != nil {
		return err
	}
	pub := eventlog.NewPublisher(store)
	defer pub.Close()
	sender := webhook.NewSender(webhook.SenderConfig{
		ConnectTimeout: cfg.connectTimeout, Timeout: cfg.sendTimeout, AllowPrivateTargets: cfg.allowPrivateTargets,
	})
	dispatcher := webhook.NewDispatcher(store, pub, sender, webhook.DispatcherConfig{Secrets: secrets, Workers: cfg.workers, PerHost: cfg.maxPerHost, Logger: logger, Observer: obs})

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{
		Handler: httpapi.NewRouter(httpapi.Config{
			Log: pub, Sealer: secrets, SecretGrace: cfg.secretGrace, Views: views, Waiter: runner, APIToken: cfg.apiToken, Logger: logger,
			Targets: webhook.TargetGuard{AllowPrivate: cfg.allowPrivateTargets},
			Ready:   readiness(store, runner),
			UI:      webui.Handler(),
			Metrics: metrics.Handler(reg, logger), ObserveRequest: obs.HTTPRequest,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	var wg sync.WaitGroup
	failed := make(chan error, 3)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := runner.Run(bgCtx); err != nil {
			failed <- fmt.Errorf("projections: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := dispatcher.Run(bgCtx); err != nil {
			failed <- fmt.Errorf("dispatcher: %w", err)
		}
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("http server: %w", err)
		}
	}()
	if cfg.pprofAddr != "" {
		stopPprof, err := servePprof(cfg.pprofAddr, logger)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	logger.Info("hookd listening", "addr", ln.Addr().String(), "data", cfg.data,
		"auth", cfg.apiToken != "", "allow_private_targets", cfg.allowPrivateTargets)

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case runErr = <-failed:
		logger.Error("stopping after a failure", "err", runErr)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("http shutdown", "err", err)
	}
	// Stop reading the log; deliveries already being sent finish and are recorded.
	stopBackground()
	wg.Wait()
	logger.Info("stopped")
	return runErr
}

// maxReadyLag is how far the views may trail the log for /readyz to pass.
const maxReadyLag = 1000

// readiness says whether the log takes appends and the views are caught up.
func readiness(store *eventlog.Store, runner *projections.Runner) func(context.Context) error {
	return func(context.Context) error {
		if err := store.Err(); err != nil {
			return fmt.Errorf("event log: %w", err)
		}
		head, err := store.Head(eventlog.Topic)
		if err != nil {
			return fmt.Errorf("event log: %w", err)
		}
		if lag := head - min(head, runner.Applied()); lag > maxReadyLag {
			return fmt.Errorf("views are %d events behind the log", lag)
		}
		return nil
	}
}
