package main

import (
	"context"
	"io"
	"path/filepath"
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
	for _, w := range cfg.warnings {
		logger.Warn(w)
	}
	svc, err := newService(cfg, getenv, logger)
	if err != nil {
		return err
	}
	defer svc.Close()
	return svc.Run(ctx)
}
