package service

import (
	"path/filepath"
	"time"

	"github.com/hookd/hookd/internal/diskspace"
)

// Config is what New builds a running hookd from: `hookd serve`'s flags,
// validated (cmd/hookd parses them), or a test's choice. Zero durations and
// counts are not defaulted here: the flags give the defaults.
type Config struct {
	Addr                string // the API's listen address
	Data                string // the data directory: log, views, head mark, secret key
	APIToken            string // required in Authorization; "" for none
	AllowPrivateTargets bool
	SendTimeout         time.Duration
	ConnectTimeout      time.Duration
	Workers             int // deliveries sent at once (--max-in-flight)
	MaxPerHost          int
	MaxConnections      int // 0: derived from the open-file limit (fdbudget.go)
	SecretGrace         time.Duration
	PprofAddr           string // "" for none
	// SecretKey is HOOKD_SECRET_KEY's value; "" keeps the key in a file
	// under Data (sealer.LoadKey).
	SecretKey string
	// DiskReserve is the free space to keep on Data's filesystem, given
	// its total size; nil: diskspace.DefaultReserve. NoDiskReserve turns
	// the guard off (--min-free-disk 0).
	DiskReserve   func(total uint64) uint64
	NoDiskReserve bool
	// VerifyEvery is how often the whole hash chain is verified while
	// serving (0: only at start).
	VerifyEvery time.Duration
	// DiskProbe replaces statfs (tests; nil: statfs).
	DiskProbe diskspace.Probe
	// Log is where the event log lives (default: Badger in Data).
	Log LogConfig
	// SharedLease is how long a request claimed from a shared log's send
	// queue stays with this process without word from it (JetStream's ack
	// wait); 0: SendTimeout (the whole of one send, connecting included)
	// plus sharedLeaseMargin.
	SharedLease time.Duration
	// MatcherLease is how long the other processes wait before taking
	// over matching from one that died; 0: 5 s.
	MatcherLease time.Duration
}

// DataDirs are where the log and the views live under data.
func DataDirs(data string) (logDir, viewsDir string) {
	return filepath.Join(data, "log"), filepath.Join(data, "views")
}

// HeadFile is where the log's head mark lives: beside the log's Badger
// directory, not in it, so that losing the log's files does not lose it.
func HeadFile(data string) string { return filepath.Join(data, "log.head") }
