package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errUsage means the flags were wrong and the flag package said so.
var errUsage = errors.New("usage")

// scenarioNames are the scenarios in the order they run.
var scenarioNames = []string{"raw", "fanout", "single", "latency", "isolation", "append", "rebuild", "query", "restart"}

type config struct {
	hookd        string
	hookdVerbose bool
	quick        bool
	only         []string // empty: all
	tmp          string
	keep         bool // keep the data directories

	events      int // build events in fan-out and single
	hooks       int // hooks (and receivers) in fan-out
	senders     int // concurrent build-event senders
	maxInFlight int // hookd --max-in-flight
	maxPerHost  int // hookd --max-per-host

	logBackends   []string // where fan-out and single keep the log: "badger", "nats"
	natsProcesses []int    // hookd processes on JetStream, one run each
	natsServer    string   // nats-server binary; empty: built from go.mod's module

	latencyRate     int
	latencyDuration time.Duration

	isolationEvents      int           // build events to the app with a fast and a hanging hook
	isolationSendTimeout time.Duration // hookd --send-timeout in the isolation scenario

	appendSmall      int
	appendBig        int
	appendPublishers int
	appendMax        time.Duration // cap on each append measurement

	rebuildEvents int
	logRequests   bool // the rebuild and query logs hold delivery.requested entries too

	restartEntries int // entries in the log hookd restarts on
	restartBurst   int // build events of the burst the second restart follows

	queryItems   int
	queryBuilds  bool
	querySamples int
	queryPage    int // the deep page, 1-based; clamped to the middle of the list

	timeout time.Duration // cap on each scenario
	stall   time.Duration // give up waiting for receipts after this long without one
}

// quickDefaults are the sizes --quick uses for flags not given.
var quickDefaults = map[string]string{
	"events":                 "500",
	"latency-rate":           "200",
	"latency-duration":       "2s",
	"isolation-events":       "300",
	"isolation-send-timeout": "1s",
	"restart-entries":        "20000",
	"restart-burst":          "200",
	"append-small":           "5000",
	"append-big":             "2000",
	"append-max":             "3s",
	"rebuild-events":         "20000",
	"query-items":            "20000",
	"query-samples":          "100",
	"timeout":                "40s",
	"stall":                  "10s",
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var only, backends, natsProcs string
	fs := flag.NewFlagSet("hookbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: hookbench [flags]\n\nScenarios: %s\n\nFlags:\n", strings.Join(scenarioNames, ", "))
		fs.PrintDefaults()
	}
	fs.StringVar(&c.hookd, "hookd", "bin/hookd", "path to the hookd binary to drive")
	fs.BoolVar(&c.hookdVerbose, "hookd-verbose", false, "run hookd at debug level and copy its log to stderr")
	fs.BoolVar(&c.quick, "quick", false, "tiny sizes (a smoke test, < 60 s); explicit flags still win")
	fs.StringVar(&only, "only", "", "comma-separated scenarios to run (default all): "+strings.Join(scenarioNames, ","))
	fs.StringVar(&c.tmp, "tmp", "", "directory for temporary data (default the system's)")
	fs.BoolVar(&c.keep, "keep-data", false, "keep the generated data directories (to inspect or profile) and print where")
	fs.IntVar(&c.events, "events", 20000, "build events sent in fan-out and single")
	fs.IntVar(&c.hooks, "hooks", 10, "hooks in fan-out, each with its own receiver")
	fs.IntVar(&c.senders, "senders", 64, "concurrent senders of build events to hookd")
	fs.IntVar(&c.maxInFlight, "max-in-flight", 256, "hookd --max-in-flight")
	fs.IntVar(&c.maxPerHost, "max-per-host", 8, "hookd --max-per-host")
	fs.StringVar(&backends, "log-backends", "badger", "comma-separated logs fan-out and single run on: badger (the embedded log, one process), nats (a local nats-server with JetStream and --nats-processes hookd processes)")
	fs.StringVar(&natsProcs, "nats-processes", "1,2,3", "with --log-backends nats: comma-separated counts of hookd processes on the shared log, one run each (--max-in-flight and --max-per-host are per process)")
	fs.StringVar(&c.natsServer, "nats-server", "", "nats-server binary for --log-backends nats (default: go build "+natsModule+" into --tmp once; needs hookd's module)")
	fs.IntVar(&c.latencyRate, "latency-rate", 1000, "build events per second in the latency scenario")
	fs.DurationVar(&c.latencyDuration, "latency-duration", 10*time.Second, "how long the latency scenario sends")
	fs.IntVar(&c.appendSmall, "append-small", 200000, "small (~100 B) events appended")
	fs.IntVar(&c.appendBig, "append-big", 50000, "2 KiB events appended")
	fs.IntVar(&c.appendPublishers, "append-publishers", 256, "concurrent publishers in the append scenario")
	fs.DurationVar(&c.appendMax, "append-max", 20*time.Second, "cap on each append measurement (the rate is what was done by then)")
	fs.IntVar(&c.isolationEvents, "isolation-events", 50000, "build events sent in the isolation scenario (to an app with a fast and a hanging hook)")
	fs.DurationVar(&c.isolationSendTimeout, "isolation-send-timeout", 5*time.Second, "hookd --send-timeout in the isolation scenario (shutdown waits this long for the hanging sends)")
	fs.IntVar(&c.rebuildEvents, "rebuild-events", 1000000, "events in the log the rebuild scenario replays")
	fs.BoolVar(&c.logRequests, "log-requests", false, "the generated rebuild and query (with --query-builds) logs also hold a delivery.requested per delivery, as hookd's matcher logs them (a different mix: rates not comparable with runs without it)")
	fs.IntVar(&c.restartEntries, "restart-entries", 1000000, "entries in the log hookd serve is restarted on")
	fs.IntVar(&c.restartBurst, "restart-burst", 5000, "build events of the burst during which hookd is killed before the second restart")
	fs.IntVar(&c.queryItems, "query-items", 1000000, "delivery items of the hook the query scenario lists")
	fs.BoolVar(&c.queryBuilds, "query-builds", false, "also log each queried item's build event (twice the log, set-up twice as long)")
	fs.IntVar(&c.querySamples, "query-samples", 500, "timed requests per page in the query scenario")
	fs.IntVar(&c.queryPage, "query-page", 10000, "the deep page listed (50 items a page), at most the middle page")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "cap on each scenario")
	fs.DurationVar(&c.stall, "stall", 30*time.Second, "stop waiting for deliveries after this long without one")
	if err := fs.Parse(args); err != nil {
		return c, errUsage
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range quickDefaults {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return c, err
				}
			}
		}
	}
	var err error
	for _, s := range strings.Split(only, ",") {
		s = strings.TrimSpace(strings.ReplaceAll(s, "-", ""))
		if s == "" {
			continue
		}
		if !slices.Contains(scenarioNames, s) {
			return c, fmt.Errorf("--only: unknown scenario %q; want some of %s", s, strings.Join(scenarioNames, ","))
		}
		c.only = append(c.only, s)
	}
	if c.logBackends, err = parseBackends(backends); err != nil {
		return c, err
	}
	if c.natsProcesses, err = parseCounts(natsProcs); err != nil {
		return c, err
	}
	return c, c.validate()
}

// logBackendNames are the values --log-backends takes.
var logBackendNames = []string{"badger", "nats"}

func parseBackends(s string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(s, ",") {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "" || slices.Contains(out, v) {
			continue
		}
		if !slices.Contains(logBackendNames, v) {
			return nil, fmt.Errorf("--log-backends: unknown log %q; want some of %s", v, strings.Join(logBackendNames, ","))
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("--log-backends: name at least one of " + strings.Join(logBackendNames, ","))
	}
	return out, nil
}

// maxNATSProcesses bounds --nats-processes: every process runs on this
// machine beside nats-server and the receivers.
const maxNATSProcesses = 8

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxNATSProcesses {
			return nil, fmt.Errorf("--nats-processes: %q is not a count from 1 to %d", v, maxNATSProcesses)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--nats-processes: give at least one count, e.g. 1,2,3")
	}
	return out, nil
}

func (c config) validate() error {
	for _, v := range []struct {
		name string
		n    int
	}{
		{"events", c.events}, {"hooks", c.hooks}, {"senders", c.senders}, {"max-in-flight", c.maxInFlight},
		{"max-per-host", c.maxPerHost}, {"latency-rate", c.latencyRate}, {"append-small", c.appendSmall},
		{"append-big", c.appendBig}, {"append-publishers", c.appendPublishers}, {"rebuild-events", c.rebuildEvents},
		{"query-items", c.queryItems}, {"query-samples", c.querySamples}, {"query-page", c.queryPage},
		{"isolation-events", c.isolationEvents}, {"restart-entries", c.restartEntries}, {"restart-burst", c.restartBurst},
	} {
		if v.n < 1 {
			return fmt.Errorf("--%s must be at least 1", v.name)
		}
	}
	if c.latencyDuration <= 0 || c.appendMax <= 0 || c.timeout <= 0 || c.stall <= 0 || c.isolationSendTimeout <= 0 {
		return errors.New("--latency-duration, --append-max, --timeout, --stall and --isolation-send-timeout must be positive")
	}
	return nil
}

// wants reports whether scenario s is to run.
func (c config) wants(s string) bool {
	return len(c.only) == 0 || slices.Contains(c.only, s)
}
