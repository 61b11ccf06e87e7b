// Package diskspace keeps a reserve of free space on the filesystem of
// hookd's data directory. Badger writes its value log through a memory
// map: on a full disk that write faults (SIGBUS) and kills the process.
// So hookd stops taking appends while the free space is below a reserve,
// well before the disk is really full, and takes them again by itself once
// space is freed.
package diskspace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ErrFull is wrapped by the errors of a Guard whose filesystem is below
// its reserve.
var ErrFull = errors.New("the disk is full")

// Usage is a filesystem's space, in bytes. Free counts what an
// unprivileged process may still write (statfs's f_bavail).
type Usage struct {
	Free, Total uint64
}

// Probe measures the filesystem holding path.
type Probe func(path string) (Usage, error)

// DefaultReserve is the reserve when none is configured: 256 MiB, or 5 %
// of the filesystem if that is smaller (a small disk must stay usable).
func DefaultReserve(total uint64) uint64 { return min(256<<20, total/20) }

// Config describes a Guard.
type Config struct {
	// Path is a directory on the filesystem to watch (the data directory).
	Path string
	// Reserve returns the bytes to keep free on a filesystem of the given
	// total size. Default DefaultReserve.
	Reserve func(total uint64) uint64
	// Probe measures the filesystem. Default: statfs (StatFS).
	Probe Probe
	// Every is how often Run probes, so that freed space is noticed
	// without an append. Default 1 s.
	Every time.Duration
	// Logger receives one ERROR when appends stop and one INFO when they
	// resume.
	Logger *slog.Logger
}

// Guard says whether the data directory's filesystem can take more writes.
// Admit is called before every append; its answers come from a probe at
// most probeEvery old, adjusted for the bytes admitted since, so a burst
// of appends cannot run through the reserve between two probes.
type Guard struct {
	cfg Config

	mu        sync.Mutex
	usage     Usage
	reserve   uint64
	probedAt  time.Time
	admitted  uint64 // bytes admitted since the last probe
	err       error  // why writes stop now (wraps ErrFull), or nil
	probeErr  error  // the last probe's failure, if any
	now       func() time.Time
	reprobeAt time.Duration
}

// probeEvery bounds how old Admit's measure may be.
const probeEvery = 100 * time.Millisecond

// amplification is how many bytes of disk one admitted byte may cost
// before the next probe: the value log or memtable write-ahead file, then
// the table it is flushed to, then compaction's rewrite.
const amplification = 4

// New returns a Guard after a first probe, which must succeed: a data
// directory whose space cannot be measured is a configuration error.
func New(cfg Config) (*Guard, error) {
	if cfg.Reserve == nil {
		cfg.Reserve = DefaultReserve
	}
	if cfg.Probe == nil {
		cfg.Probe = StatFS
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Guard{cfg: cfg, now: time.Now, reprobeAt: probeEvery}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.probeLocked(); err != nil {
		return nil, err
	}
	return g, nil
}

// probeLocked measures the filesystem and updates the state, logging a
// change; g.mu is held.
func (g *Guard) probeLocked() error {
	u, err := g.cfg.Probe(g.cfg.Path)
	g.probedAt = g.now()
	if err != nil {
		// Keep the last measure: a failing probe must neither stop writes
		// nor hide a full disk. Say it once.
		if g.probeErr == nil {
			g.cfg.Logger.Warn("cannot measure the free space of the data directory", "path", g.cfg.Path, "err", err)
		}
		g.probeErr = fmt.Errorf("measure free space of %s: %w", g.cfg.Path, err)
		return g.probeErr
	}
	g.probeErr = nil
	g.usage, g.admitted = u, 0
	g.reserve = g.cfg.Reserve(u.Total)
	was := g.err
	if u.Free < g.reserve {
		g.err = fmt.Errorf("%w: the data directory's filesystem (%s) has %s free, below the %s hookd keeps in reserve (--min-free-disk); "+
			"writes are refused until space is freed, then taken again without a restart", ErrFull, g.cfg.Path, Bytes(u.Free), Bytes(g.reserve))
	} else {
		g.err = nil
	}
	switch {
	case was == nil && g.err != nil:
		g.cfg.Logger.Error("disk full: refusing appends; deliveries already in the log wait", "path", g.cfg.Path,
			"free_bytes", u.Free, "reserve_bytes", g.reserve, "total_bytes", u.Total)
	case was != nil && g.err == nil:
		g.cfg.Logger.Info("disk space available again: taking appends", "path", g.cfg.Path,
			"free_bytes", u.Free, "reserve_bytes", g.reserve)
	}
	return nil
}

// Admit says whether an append of about n bytes may go ahead: nil, or an
// error wrapping ErrFull.
func (g *Guard) Admit(n int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	est := g.admitted + uint64(max(n, 0))*amplification
	if g.now().Sub(g.probedAt) >= g.reprobeAt || g.err != nil || g.usage.Free < g.reserve+est {
		_ = g.probeLocked()
		est = uint64(max(n, 0)) * amplification
	}
	if g.err != nil {
		return g.err
	}
	g.admitted += est
	return nil
}

// Err is why writes stop now (wrapping ErrFull), or nil, from the last
// probe.
func (g *Guard) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Usage returns the last measure and the reserve it was held to.
func (g *Guard) Usage() (u Usage, reserve uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.usage, g.reserve
}

// Run probes every cfg.Every until ctx ends, so that space freed while no
// append comes is noticed, and /readyz and the metrics follow it.
func (g *Guard) Run(ctx context.Context) {
	t := time.NewTicker(g.cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.mu.Lock()
			_ = g.probeLocked()
			g.mu.Unlock()
		}
	}
}

// Bytes formats n in binary units, such as "255.9 MiB".
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
