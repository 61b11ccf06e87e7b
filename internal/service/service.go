package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/connlimit"
	"github.com/hookd/hookd/internal/diskspace"
	"github.com/hookd/hookd/internal/sealer"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/httpapi"
	"github.com/hookd/hookd/transport/metrics"
	"github.com/hookd/hookd/transport/webhook"
	"github.com/hookd/hookd/transport/webui"
)

// Service is a running hookd: the log, the views and their runner, the
// dispatcher and the HTTP server, built from a Config by New. `hookd
// serve` and the tests use this one constructor.
type Service struct {
	cfg        Config
	logger     *slog.Logger
	ln         net.Listener // the API's, bound before anything is opened
	pprofLn    net.Listener // nil without --pprof
	store      eventlog.Log
	badger     *badgerlog.Store  // the embedded log, or the local state beside a shared one
	views      *projections.Live // swapped whole by an online rebuild
	runner     *projections.Runner
	dispatcher *webhook.Dispatcher
	srv        *http.Server
	api        httpapi.Config     // what srv's router was built from (APIConfig)
	disk       *diskspace.Guard   // nil with --min-free-disk 0
	verifier   *eventlog.Verifier // walks the hash chain after start and every --verify-every
	// conns is ln: it holds at most --max-connections API connections.
	conns *connlimit.Listener
	// panicked carries a handler's panic to Run, which stops the process.
	panicked chan error
}

// New binds the listeners, then opens (or creates) the data
// directory, the log and the views and wires everything; nothing runs
// until Run. A flag or listener that cannot work fails before anything is
// created on disk. On error, whatever it opened is closed again.
func New(cfg Config, logger *slog.Logger) (_ *Service, err error) {
	s := &Service{cfg: cfg, logger: logger, panicked: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("--addr: listen on %s: %w", cfg.Addr, err)
	}
	if cfg.PprofAddr != "" {
		if s.pprofLn, err = net.Listen("tcp", cfg.PprofAddr); err != nil {
			return nil, fmt.Errorf("--pprof: listen on %s: %w", cfg.PprofAddr, err)
		}
	}
	// At most --max-connections API connections, so the reserve of
	// descriptors for the log, the views and deliveries stays whole
	// (fdbudget.go); pprof's few are part of that reserve.
	fds, err := planConnections(cfg, logger)
	if err != nil {
		return nil, err
	}
	if s.conns, err = connlimit.New(s.ln, connlimit.Config{Max: fds.maxConnections, Name: "api", Logger: logger}); err != nil {
		return nil, err
	}
	s.ln = s.conns
	if s.pprofLn != nil {
		limited, err := connlimit.New(s.pprofLn, connlimit.Config{Max: pprofConnections, Name: "pprof", Logger: logger})
		if err != nil {
			return nil, err
		}
		s.pprofLn = limited
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if cfg.Log.NATS() && cfg.SecretKey == "" {
		if _, err := os.Stat(filepath.Join(cfg.Data, sealer.KeyFileName)); err != nil {
			return nil, fmt.Errorf("with --log nats://..., every process must seal and open hook secrets with the same key: " +
				"set HOOKD_SECRET_KEY, the same on every process (a new one: openssl rand -base64 32; or an existing " +
				"data directory's secret.key), or copy that secret.key into --data")
		}
	}
	key, keySource, err := sealer.LoadKey(cfg.SecretKey, cfg.Data)
	if err != nil {
		return nil, err
	}
	secrets, err := sealer.New(key)
	if err != nil {
		return nil, err
	}
	logger.Info("hook secrets are sealed at rest", "key", keySource)
	logDir, viewsDir := DataDirs(cfg.Data)
	reg, obs, err := newMetrics()
	if err != nil {
		return nil, err
	}
	var state webhook.StateStore
	var sharing *webhook.Sharing
	if !cfg.NoDiskReserve {
		if s.disk, err = diskspace.New(diskspace.Config{Path: cfg.Data, Reserve: cfg.DiskReserve, Probe: cfg.DiskProbe, Logger: logger}); err != nil {
			return nil, fmt.Errorf("--min-free-disk: %w", err)
		}
	}
	if cfg.Log.NATS() {
		// The log is shared; this process's dispatcher state is its own.
		nl, err := OpenNATS(context.Background(), cfg.Log, logger)
		if err != nil {
			return nil, err
		}
		s.store = nl
		if s.badger, err = badgerlog.Open(stateDir(cfg.Data), badgerlog.Options{Logger: logger}); err != nil {
			return nil, fmt.Errorf("open this process's dispatcher state: %w", err)
		}
		state = s.badger
		lease := cfg.SharedLease
		if lease <= 0 {
			lease = cfg.SendTimeout + sharedLeaseMargin
		}
		sharing = &webhook.Sharing{Claimer: nl, Leases: nl, ClaimLease: lease, MatcherLease: cfg.MatcherLease}
		s.verifier = eventlog.NewVerifier(nl, "the JetStream stream "+cfg.Log.streamName(), cfg.VerifyEvery, logger)
	} else {
		logOpts := badgerlog.Options{Logger: logger, OnAppend: obs.LogAppended, HeadFile: HeadFile(cfg.Data), CheckHead: true}
		if s.disk != nil {
			logOpts.Admit = s.disk.Admit
		}
		if s.badger, err = badgerlog.Open(logDir, logOpts); err != nil {
			return nil, RefuseDamaged(err, cfg.Data)
		}
		s.store, state = s.badger, s.badger
		s.verifier = eventlog.NewVerifier(s.badger, s.badger.Dir(), cfg.VerifyEvery, logger)
	}
	// Damaged views are rebuilt from the log here, beside the damaged ones.
	if s.views, err = projections.OpenLive(context.Background(), viewsDir, s.store, logger); err != nil {
		return nil, err
	}
	if s.runner, err = projections.NewRunner(s.store, s.views, logger); err != nil {
		return nil, err
	}
	pub := eventlog.NewPublisher(s.store)
	sender := webhook.NewSender(webhook.SenderConfig{
		ConnectTimeout: cfg.ConnectTimeout, Timeout: cfg.SendTimeout, AllowPrivateTargets: cfg.AllowPrivateTargets,
		MaxIdlePerHost: cfg.MaxPerHost, MaxIdleConns: cfg.Workers,
	})
	s.dispatcher = webhook.NewDispatcher(s.store, state, pub, sender, webhook.DispatcherConfig{
		Secrets: secrets, Workers: cfg.Workers, PerHost: cfg.MaxPerHost, Logger: logger, Observer: obs, Sharing: sharing,
	})
	if err := watchLog(obs, s.store, s.runner, s.dispatcher); err != nil {
		return nil, err
	}
	if err := watchHealth(obs, s.disk, s.verifier); err != nil {
		return nil, err
	}
	// Closed when Shutdown begins, so log streams that follow end then.
	stopping := make(chan struct{})
	s.api = httpapi.Config{
		Log: pub, LogReader: s.store, Stopping: stopping, Sealer: secrets, SecretGrace: cfg.SecretGrace, Views: s.views, Waiter: s.runner, Admin: s.views, Tokens: s.views, APIToken: cfg.APIToken, Logger: logger,
		Targets: webhook.TargetGuard{AllowPrivate: cfg.AllowPrivateTargets},
		Ready:   readiness(s.store, s.disk, s.views, s.runner, s.dispatcher),
		UI:      webui.Handler(),
		Metrics: metrics.Handler(reg, logger), ObserveRequest: obs.HTTPRequest,
		OnPanic: func(v any) {
			select {
			case s.panicked <- fmt.Errorf("an HTTP handler panicked: %v", v):
			default:
			}
		},
	}
	s.srv = &http.Server{
		Handler: httpapi.NewRouter(s.api),
		// Headers beyond 64 KiB get 431, so a held-open header block
		// costs at most that; a connection that has not sent its headers
		// within ReadHeaderTimeout (from connecting, or from the first
		// byte after a keep-alive pause) is closed, and one idle between
		// requests for IdleTimeout. At --max-connections, idle ones are
		// closed to make room (s.conns).
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ConnState:         s.conns.ConnState,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	s.srv.RegisterOnShutdown(sync.OnceFunc(func() { close(stopping) }))
	return s, nil
}

// sharedLeaseMargin is what a claimed request's lease adds to the
// longest send: time to append its attempt and finish the claim, on a
// busy log.
const sharedLeaseMargin = 10 * time.Second

// Log is the service's event log.
func (s *Service) Log() eventlog.Log { return s.store }

// APIConfig is a copy of the configuration the API's router was built
// from: the log publisher, the views, the waiter, readiness, metrics and
// the rest, as New wired them. It is for tests that serve another router
// over the same running service with one thing changed (another token, a
// log that refuses appends, a handler that panics); changing the copy
// changes nothing in the service. Its OnPanic stops the service's Run, so
// a router that is meant to panic sets its own.
func (s *Service) APIConfig() httpapi.Config { return s.api }

// Addr is the address the API listens on.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends (nil) or a part of the service stops on its
// own, which is always an error: the projections, the dispatcher or the
// HTTP server returning for any reason, or a handler panicking. Then it
// stops the rest: no more requests, sends in flight finished and recorded.
// It does not close the log and views; Close does.
func (s *Service) Run(ctx context.Context) error {
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	var wg sync.WaitGroup
	failed := make(chan error, 4)
	// stopped reports a part that returned while it should still run.
	stopped := func(part string, err error) {
		if bgCtx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
			return // asked to stop
		}
		if err == nil {
			err = errors.New("stopped without an error")
		}
		failed <- fmt.Errorf("%s: %w", part, err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		stopped("projections", s.runner.Run(bgCtx))
	}()
	go func() {
		defer wg.Done()
		stopped("dispatcher", s.dispatcher.Run(bgCtx))
	}()
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("http server: %w", err)
		}
	}()
	if s.disk != nil {
		wg.Go(func() { s.disk.Run(bgCtx) })
	}
	wg.Go(func() { s.verifier.Run(bgCtx) })
	var stopPprof func()
	if s.pprofLn != nil {
		stopPprof = servePprof(s.pprofLn, s.logger)
	}
	s.logger.Info("hookd listening", "addr", s.Addr(), "web_page", "http://"+s.Addr()+"/", "data", s.cfg.Data,
		"auth", s.cfg.APIToken != "", "allow_private_targets", s.cfg.AllowPrivateTargets)

	var runErr error
	select {
	case <-ctx.Done():
		s.logger.Info("shutting down")
	case runErr = <-failed:
	case runErr = <-s.panicked:
	}
	if runErr != nil {
		s.logger.Error("stopping after a failure; a supervisor should restart hookd", "err", runErr)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		s.logger.Warn("http shutdown", "err", err)
	}
	<-serveDone
	if stopPprof != nil {
		stopPprof()
	}
	// Stop reading the log; deliveries already being sent finish and are recorded.
	stopBackground()
	wg.Wait()
	s.logger.Info("stopped")
	return runErr
}

// Close closes the listeners, the views and the log; call it after Run
// has returned (or instead of Run).
func (s *Service) Close() {
	for _, ln := range []net.Listener{s.ln, s.pprofLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	if s.views != nil {
		if err := s.views.Close(); err != nil {
			s.logger.Error("closing the views", "err", err)
		}
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.logger.Error("closing the event log", "err", err)
		}
	}
	if s.badger != nil && eventlog.Log(s.badger) != s.store {
		if err := s.badger.Close(); err != nil {
			s.logger.Error("closing the dispatcher state", "err", err)
		}
	}
}

// RefuseDamaged adds what to do to an error that says the log is damaged.
func RefuseDamaged(err error, data string) error {
	if !errors.Is(err, eventlog.ErrDamaged) {
		return err
	}
	return fmt.Errorf("%w. hookd will not serve a damaged log: restore the data directory from a backup (README, Backups); "+
		"`hookd log verify --data %s` gives the details", err, data)
}

// maxReadyLag is how far the views and the dispatcher may trail the log
// for /readyz to pass.
const maxReadyLag = 1000

// readiness says whether the log takes appends and the views and the
// dispatcher are caught up.
func readiness(store eventlog.Log, disk *diskspace.Guard, views *projections.Live, runner *projections.Runner, d *webhook.Dispatcher) func(context.Context) error {
	return func(context.Context) error {
		if err := store.Err(); err != nil {
			return fmt.Errorf("event log: %w", err)
		}
		if disk != nil {
			if err := disk.Err(); err != nil {
				return err
			}
		}
		if views != nil {
			if err := views.Damaged(); err != nil {
				return err
			}
		}
		head, err := store.Head(eventlog.Topic)
		if err != nil {
			return fmt.Errorf("event log: %w", err)
		}
		if lag := head - min(head, runner.Applied()); lag > maxReadyLag {
			return fmt.Errorf("views are %d events behind the log", lag)
		}
		if lag := head - min(head, d.Position()); lag > maxReadyLag {
			return fmt.Errorf("the dispatcher is %d events behind the log", lag)
		}
		return nil
	}
}
