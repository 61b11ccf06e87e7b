package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/diskspace"
	"github.com/hookd/hookd/internal/service"
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
	maxConnections      int // 0: derived from the open-file limit (fdbudget.go)
	secretGrace         time.Duration
	pprofAddr           string
	logLevel            string
	logFormat           string
	// warnings are logged at WARN once the logger exists.
	warnings []string
	// minFreeDisk is the free space kept on the data directory's
	// filesystem (--min-free-disk); verifyEvery how often the whole hash
	// chain is verified while serving (--verify-every, 0: only at start).
	minFreeDisk diskReserve
	verifyEvery time.Duration
	// diskProbe replaces statfs in tests (nil: statfs).
	diskProbe diskspace.Probe
	// log is where the event log lives (--log and the --nats-* flags).
	log service.LogConfig
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
	// No secret is a flag's default: the usage text would print it.
	fs.StringVar(&c.apiToken, "api-token", "", "token required in the Authorization header of /v0.1 requests (env HOOKD_API_TOKEN); on the command line every local user can read it, so prefer HOOKD_API_TOKEN or --api-token-file")
	apiTokenFile := fs.String("api-token-file", envDefault(getenv, "HOOKD_API_TOKEN_FILE", ""), "read the API token from this file, less one trailing newline (env HOOKD_API_TOKEN_FILE)")
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
	maxConns, err := envInt(getenv, "HOOKD_MAX_CONNECTIONS", 0)
	if err != nil {
		return c, err
	}
	fs.IntVar(&c.maxConnections, "max-connections", maxConns, "API connections held open at once; 0 derives it from the open-file limit less a reserve for the log, views and deliveries (env HOOKD_MAX_CONNECTIONS)")
	grace, err := envDuration(getenv, "HOOKD_SECRET_GRACE", 24*time.Hour)
	if err != nil {
		return c, err
	}
	fs.DurationVar(&c.secretGrace, "secret-grace", grace, "how long a replaced hook secret still signs deliveries (env HOOKD_SECRET_GRACE)")
	fs.StringVar(&c.pprofAddr, "pprof", getenv("HOOKD_PPROF"), "serve Go profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060 (env HOOKD_PPROF)")
	fs.StringVar(&c.logLevel, "log-level", envDefault(getenv, "HOOKD_LOG_LEVEL", "info"), "debug, info, warn or error (env HOOKD_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", envDefault(getenv, "HOOKD_LOG_FORMAT", "text"), "text or json (env HOOKD_LOG_FORMAT)")
	fs.Var(&c.minFreeDisk, "min-free-disk", "free space to keep on the data directory's filesystem; appends are refused (503) below it: a size such as 256MiB or 2GB, a percentage such as 5%, or 0 for none (default: 256MiB or 5%, whichever is smaller; env HOOKD_MIN_FREE_DISK)")
	if v := getenv("HOOKD_MIN_FREE_DISK"); v != "" {
		if err := c.minFreeDisk.Set(v); err != nil {
			return c, fmt.Errorf("HOOKD_MIN_FREE_DISK=%q: %w", v, err)
		}
	}
	verifyEvery, err := envDuration(getenv, "HOOKD_VERIFY_EVERY", 24*time.Hour)
	if err != nil {
		return c, err
	}
	if err := addLogFlags(fs, getenv, &c.log); err != nil {
		return c, err
	}
	fs.DurationVar(&c.verifyEvery, "verify-every", verifyEvery, "verify the whole log's hash chain after start and then this often; 0: only after start (env HOOKD_VERIFY_EVERY)")
	if err := fs.Parse(args); err != nil {
		return c, errUsage
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := c.resolveAPIToken(fs, getenv, *apiTokenFile); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c serveConfig) validate() error {
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want host:port, such as 127.0.0.1:8080", c.addr)
	}
	if c.apiToken == "" && !isLoopbackHost(host) {
		return fmt.Errorf("--addr %q is not a loopback address: set an API token (HOOKD_API_TOKEN or --api-token-file) to listen on other interfaces", c.addr)
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
	if c.maxConnections < 0 {
		return errors.New("--max-connections must be at least 1, or 0 to derive it from the open-file limit")
	}
	if c.log.Replicas < 1 || c.log.Replicas > 5 {
		return fmt.Errorf("--nats-replicas %d: JetStream allows 1 to 5", c.log.Replicas)
	}
	return c.log.Validate()
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// resolveAPIToken sets c.apiToken, after parsing, from --api-token,
// else HOOKD_API_TOKEN, or else the file named by --api-token-file (or
// HOOKD_API_TOKEN_FILE) less one trailing newline. A token and a file
// together are an error; a token on the command line draws a warning.
// No message says the token's value.
func (c *serveConfig) resolveAPIToken(fs *flag.FlagSet, getenv func(string) string, file string) error {
	from := ""
	switch {
	case isFlagSet(fs, "api-token"):
		from = "--api-token"
		if c.apiToken != "" {
			c.warnings = append(c.warnings, "--api-token puts the API token on the command line, where every local user can read it in the process list; "+
				"give it with --api-token-file or HOOKD_API_TOKEN instead")
		}
	case getenv("HOOKD_API_TOKEN") != "":
		from = "HOOKD_API_TOKEN"
		c.apiToken = getenv("HOOKD_API_TOKEN")
	}
	if file != "" {
		fileFrom := "HOOKD_API_TOKEN_FILE"
		if isFlagSet(fs, "api-token-file") {
			fileFrom = "--api-token-file"
		}
		if from != "" {
			return fmt.Errorf("both %s and %s give the API token: use one of them", from, fileFrom)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%s: %w", fileFrom, err)
		}
		tok := string(b)
		if t, ok := strings.CutSuffix(tok, "\r\n"); ok {
			tok = t
		} else {
			tok = strings.TrimSuffix(tok, "\n")
		}
		if tok == "" {
			return fmt.Errorf("%s: %s is empty: write the API token in it", fileFrom, file)
		}
		from, c.apiToken = fileFrom+" "+file, tok
	}
	if c.apiToken != "" && !headerSafe(c.apiToken) {
		return fmt.Errorf("the API token from %s has a line break, another control character or spaces at either end, "+
			"which an Authorization header cannot carry (a token file loses only one trailing newline)", from)
	}
	return nil
}

// headerSafe reports whether an Authorization header can carry s as it is.
func headerSafe(s string) bool {
	if strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// isFlagSet reports whether name was given on the command line.
func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
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

// diskReserve is --min-free-disk: unset (the default reserve), a size in
// bytes, a percentage of the filesystem, or off.
type diskReserve struct {
	set     bool
	bytes   uint64
	percent float64 // used when > 0
	text    string
}

func (d *diskReserve) String() string { return d.text }

// Set parses "256MiB", "2GB", "1048576", "5%" or "0".
func (d *diskReserve) Set(v string) error {
	v = strings.TrimSpace(v)
	if p, ok := strings.CutSuffix(v, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f >= 100 {
			return fmt.Errorf("%q: want a percentage from 0 to 99, such as 5%%", v)
		}
		*d = diskReserve{set: true, percent: f, text: v}
		return nil
	}
	n, err := parseBytes(v)
	if err != nil {
		return err
	}
	*d = diskReserve{set: true, bytes: n, text: v}
	return nil
}

func (d diskReserve) enabled() bool { return !d.set || d.bytes > 0 || d.percent > 0 }

// reserve is the bytes to keep free on a filesystem of total bytes.
func (d diskReserve) reserve(total uint64) uint64 {
	switch {
	case !d.set:
		return diskspace.DefaultReserve(total)
	case d.percent > 0:
		return uint64(float64(total) * d.percent / 100)
	}
	return d.bytes
}

// parseBytes reads a size such as "256MiB", "2GB", "512k" or "1048576".
func parseBytes(v string) (uint64, error) {
	units := []struct {
		suffix string
		mult   uint64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1},
	}
	s := strings.ToLower(strings.TrimSpace(v))
	mult := uint64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q: want a size such as 256MiB, 2GB or 1048576", v)
	}
	return uint64(f * float64(mult)), nil
}
