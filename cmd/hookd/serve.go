package main

import (
	"context"
	"io"

	"github.com/hookd/hookd/internal/service"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	for _, w := range cfg.warnings {
		logger.Warn(w)
	}
	svc, err := service.New(cfg.serviceConfig(getenv), logger)
	if err != nil {
		return err
	}
	defer svc.Close()
	return svc.Run(ctx)
}

// serviceConfig is the service's Config from the flags; the secret key comes
// from the environment only (HOOKD_SECRET_KEY), never a flag.
func (c serveConfig) serviceConfig(getenv func(string) string) service.Config {
	sc := service.Config{
		Addr: c.addr, Data: c.data, APIToken: c.apiToken, AllowPrivateTargets: c.allowPrivateTargets,
		SendTimeout: c.sendTimeout, ConnectTimeout: c.connectTimeout, Workers: c.workers, MaxPerHost: c.maxPerHost,
		MaxConnections: c.maxConnections, SecretGrace: c.secretGrace, PprofAddr: c.pprofAddr,
		SecretKey: getenv("HOOKD_SECRET_KEY"), VerifyEvery: c.verifyEvery, DiskProbe: c.diskProbe,
		NoDiskReserve: !c.minFreeDisk.enabled(), Log: c.log,
	}
	if c.minFreeDisk.set {
		sc.DiskReserve = c.minFreeDisk.reserve
	}
	return sc
}
