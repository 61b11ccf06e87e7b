package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// errUsage means the flags were wrong and the flag package said so.
var errUsage = errors.New("usage")

type serveConfig struct {
	addr                string
	data                string
	apiToken            string
	allowPrivateTargets bool
	sendTimeout         time.Duration
	connectTimeout      time.Duration
	workers             int
	maxPerHost          int
	secretGrace         time.Duration
	pprofAddr           string
	logLevel            string
	logFormat           string
}

// envDefault returns the environment's value for a flag, or def.
func envDefault(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", envDefault(getenv, "HOOKD_ADDR", "127.0.0.1:8080"), "listen address (env HOOKD_ADDR)")
	fs.StringVar(&c.data, "data", envDefault(getenv, "HOOKD_DATA", "./data"), "data directory (env HOOKD_DATA)")
	fs.StringVar(&c.apiToken, "api-token", getenv("HOOKD_API_TOKEN"), "token required in the Authorization header of /v0.1 requests (env HOOKD_API_TOKEN)")
	allow, err := envBool(getenv, "HOOKD_ALLOW_PRIVATE_TARGETS")
	if err != nil {
		return c, err
	}
	fs.BoolVar(&c.allowPrivateTargets, "allow-private-targets", allow, "allow hooks to loopback, private and link-local addresses (env HOOKD_ALLOW_PRIVATE_TARGETS)")
	sendTimeout, err := envDuration(getenv, "HOOKD_SEND_TIMEOUT", 10*time.Second)
	if err != nil {
		return c, err
	}
	fs.DurationVar(&c.sendTimeout, "send-timeout", sendTimeout, "total time allowed for one delivery (env HOOKD_SEND_TIMEOUT)")
	connectTimeout, err := envDuration(getenv, "HOOKD_CONNECT_TIMEOUT", 5*time.Second)
	if err != nil {
		return c, err
	}
	fs.DurationVar(&c.connectTimeout, "connect-timeout", connectTimeout, "time allowed to connect to a receiver (env HOOKD_CONNECT_TIMEOUT)")
	workers, err := envInt(getenv, "HOOKD_MAX_IN_FLIGHT", 256)
	if err != nil {
		return c, err
	}
	fs.IntVar(&c.workers, "max-in-flight", workers, "deliveries sent at once, in total (env HOOKD_MAX_IN_FLIGHT)")
	maxPerHost, err := envInt(getenv, "HOOKD_MAX_PER_HOST", 8)
	if err != nil {
		return c, err
	}
	fs.IntVar(&c.maxPerHost, "max-per-host", maxPerHost, "deliveries sent at once to one receiver host and port (env HOOKD_MAX_PER_HOST)")
	grace, err := envDuration(getenv, "HOOKD_SECRET_GRACE", 24*time.Hour)
	if err != nil {
		return c, err
	}
	fs.DurationVar(&c.secretGrace, "secret-grace", grace, "how long a replaced hook secret still signs deliveries (env HOOKD_SECRET_GRACE)")
	fs.StringVar(&c.pprofAddr, "pprof", getenv("HOOKD_PPROF"), "serve Go profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060 (env HOOKD_PPROF)")
	fs.StringVar(&c.logLevel, "log-level", envDefault(getenv, "HOOKD_LOG_LEVEL", "info"), "debug, info, warn or error (env HOOKD_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", envDefault(getenv, "HOOKD_LOG_FORMAT", "text"), "text or json (env HOOKD_LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		return c, errUsage
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return c, c.validate()
}

func (c serveConfig) validate() error {
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want host:port, such as 127.0.0.1:8080", c.addr)
	}
	if c.apiToken == "" && !isLoopbackHost(host) {
		return fmt.Errorf("--addr %q is not a loopback address: set --api-token (or HOOKD_API_TOKEN) to listen on other interfaces", c.addr)
	}
	if c.pprofAddr != "" {
		host, _, err := net.SplitHostPort(c.pprofAddr)
		if err != nil || !isLoopbackHost(host) {
			return fmt.Errorf("--pprof %q: profiles are only served on a loopback address such as 127.0.0.1:6060", c.pprofAddr)
		}
	}
	if c.data == "" {
		return errors.New("--data must name a directory")
	}
	if c.sendTimeout <= 0 || c.connectTimeout <= 0 {
		return errors.New("--send-timeout and --connect-timeout must be positive")
	}
	if c.workers < 1 {
		return errors.New("--max-in-flight must be at least 1")
	}
	if c.maxPerHost < 1 {
		return errors.New("--max-per-host must be at least 1")
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func envBool(getenv func(string) string, name string) (bool, error) {
	v := getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
}

func envDuration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration such as 10s", name, v)
	}
	return d, nil
}

func envInt(getenv func(string) string, name string, def int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a whole number", name, v)
	}
	return n, nil
}
