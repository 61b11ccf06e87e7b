package service

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// How hookd shares its open-file limit between API connections and
// everything else. The API server may hold at most --max-connections
// connections (internal/connlimit); everything else comes out of a
// reserve that no connection can touch, so a connection flood cannot make
// the log, the views or a delivery fail with "too many open files":
//
//	limit = max-connections + reserve
//	reserve = badger + deliveries + pprof + process + slack
//
//	badger     = for the log and for the views (counted twice: a rebuild
//	             opens fresh views beside the live ones), 2 × the files in
//	             the database now (Badger keeps every .sst, .vlog and .mem
//	             file open; compaction writes new tables before it deletes
//	             the old; and room for the data to double) + badgerPerDB
//	             (MANIFEST, KEYREGISTRY, DISCARD, the lock, the directory,
//	             memtables, compaction output), + badgerGrowth for growth
//	             after start (a restart measures again).
//	deliveries = 4 × --max-in-flight (each send holds one connection, and
//	             while it dials Go's resolver may hold two UDP sockets and
//	             Happy Eyeballs a second TCP socket) + the idle pool
//	             (MaxIdleConns = max(--max-in-flight, --max-per-host)).
//	pprof      = pprofConnections if --pprof is set (its listener is
//	             limited to that many).
//	process    = stdio, the listeners, the poller, the secret key, /proc.
//	slack      = connections being closed after an eviction or a shed
//	             (their descriptors close a moment after the slot is
//	             reused), the one accepted before it is judged, and DNS
//	             lookups of hook URLs made by API requests.
const (
	badgerPerDB      = 64
	badgerGrowth     = 1024
	deliveryFDs      = 4 // per --max-in-flight
	pprofConnections = 16
	pprofFDs         = pprofConnections + 16
	processFDs       = 64
	slackFDs         = 256
	// minConnections is the least --max-connections worth running with.
	minConnections = 64
	// defaultMaxConnectionsUnknownLimit is --max-connections's default
	// where the open-file limit cannot be read (not Unix).
	defaultMaxConnectionsUnknownLimit = 10000
	// maxUsableLimit caps an unlimited or huge limit in the arithmetic.
	maxUsableLimit = 1 << 24
)

// fileLimit is the process's open-file limit.
type fileLimit struct {
	known      bool   // false where there is no RLIMIT_NOFILE
	soft, hard uint64 // in force after raising
	before     uint64 // the soft limit found
	raiseErr   error  // why the soft limit could not be raised, if not
}

// fdPlan is how the limit is shared.
type fdPlan struct {
	limit                                     int // soft limit, capped at maxUsableLimit; 0 if unknown
	badger, deliveries, pprof, process, slack int
	maxConnections                            int
}

func (p fdPlan) reserve() int { return p.badger + p.deliveries + p.pprof + p.process + p.slack }

// describe is the reserve's parts, for errors.
func (p fdPlan) describe() string {
	return fmt.Sprintf("%d in reserve: Badger %d, deliveries %d, pprof %d, process %d, slack %d",
		p.reserve(), p.badger, p.deliveries, p.pprof, p.process, p.slack)
}

// planFDs shares lim between the reserve and the API's connections, given
// how many files the log and the views directories hold now.
func planFDs(cfg Config, lim fileLimit, logFiles, viewsFiles int) (fdPlan, error) {
	p := fdPlan{
		badger:     2*logFiles + badgerPerDB + 2*(2*viewsFiles+badgerPerDB) + badgerGrowth,
		deliveries: deliveryFDs*cfg.Workers + max(cfg.Workers, cfg.MaxPerHost),
		process:    processFDs,
		slack:      slackFDs,
	}
	if cfg.PprofAddr != "" {
		p.pprof = pprofFDs
	}
	if !lim.known {
		p.maxConnections = cfg.MaxConnections
		if p.maxConnections == 0 {
			p.maxConnections = defaultMaxConnectionsUnknownLimit
		}
		return p, nil
	}
	p.limit = int(min(lim.soft, maxUsableLimit))
	room := p.limit - p.reserve()
	fix := "raise the hard limit (ulimit -Hn; LimitNOFILE= under systemd; --ulimit nofile= in Docker)"
	switch {
	case cfg.MaxConnections == 0 && room < minConnections:
		return p, fmt.Errorf("the open-file limit is %d, and hookd keeps %s, which leaves %d for API connections, fewer than %d: %s, or lower --max-in-flight",
			p.limit, p.describe(), room, minConnections, fix)
	case cfg.MaxConnections == 0:
		p.maxConnections = room
	case cfg.MaxConnections > room:
		return p, fmt.Errorf("--max-connections %d does not fit: the open-file limit is %d, and hookd keeps %s, which leaves at most %d: lower --max-connections, or %s",
			cfg.MaxConnections, p.limit, p.describe(), max(room, 0), fix)
	default:
		p.maxConnections = cfg.MaxConnections
	}
	return p, nil
}

// planConnections raises the open-file limit, shares it (see planFDs) and
// logs how.
func planConnections(cfg Config, logger *slog.Logger) (fdPlan, error) {
	lim, err := raiseOpenFileLimit()
	if err != nil {
		return fdPlan{}, err
	}
	if lim.raiseErr != nil {
		logger.Warn("the open-file soft limit stays as it is", "err", lim.raiseErr)
	}
	logDir, viewsDir := DataDirs(cfg.Data)
	logFiles, err := countFiles(logDir)
	if err != nil {
		return fdPlan{}, err
	}
	viewsFiles, err := countFiles(viewsDir)
	if err != nil {
		return fdPlan{}, err
	}
	p, err := planFDs(cfg, lim, logFiles, viewsFiles)
	if err != nil {
		return p, err
	}
	if lim.known {
		logger.Info("open-file limit", "soft", lim.soft, "hard", lim.hard, "found", lim.before,
			"reserve", p.reserve(), "reserve_badger", p.badger, "reserve_deliveries", p.deliveries,
			"reserve_pprof", p.pprof, "reserve_process", p.process, "reserve_slack", p.slack,
			"max_connections", p.maxConnections)
	} else {
		logger.Info("open-file limit unknown on this system", "max_connections", p.maxConnections)
	}
	return p, nil
}

// countFiles is how many entries dir holds (Badger's directories are
// flat); a directory that does not exist yet holds none.
func countFiles(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("count the files in %s: %w", dir, err)
	}
	return len(entries), nil
}

// maxHeaderBytes caps an API request's headers; Go answers 431 beyond
// (it allows 4 KiB of slack for its read buffer).
const maxHeaderBytes = 64 << 10

// RaiseOpenFileLimit raises this process's open-file soft limit to the
// hard limit, as New does, and returns the limits in force afterwards (0
// where there is no such limit): for a test that opens many descriptors
// itself.
func RaiseOpenFileLimit() (soft, hard uint64, err error) {
	lim, err := raiseOpenFileLimit()
	return lim.soft, lim.hard, err
}
