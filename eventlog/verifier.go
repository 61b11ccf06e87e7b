package eventlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Verifier walks the whole hash chain of Topic in the background, once at
// start and then every interval, while the log serves: damage in entries
// the check on open did not read (it reads only those after the head mark)
// is found within one walk. A broken link, or an entry that cannot be
// read, is logged at ERROR and stops the store taking appends (Refuse)
// until an operator acts.
type Verifier struct {
	log    Log
	where  string // names the log in errors: its directory, or its stream
	every  time.Duration
	logger *slog.Logger

	mu       sync.Mutex
	damage   error     // the damage found, nil while intact
	verified uint64    // head of the last walk that found the chain intact
	at       time.Time // when that walk ended
}

// NewVerifier returns a Verifier of l walking every interval (at least
// once, at start, however long the interval); where names the log in what
// it reports (its directory, or its stream).
func NewVerifier(l Log, where string, every time.Duration, logger *slog.Logger) *Verifier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Verifier{log: l, where: where, every: every, logger: logger.With("component", "log-verifier")}
}

// Run walks the chain now and then every interval until ctx ends or it
// finds damage (after which there is nothing more to find until an
// operator restores the log).
func (v *Verifier) Run(ctx context.Context) {
	for {
		start := time.Now()
		rep, err := Verify(ctx, v.log, Topic, nil)
		if ctx.Err() != nil {
			return
		}
		var damage error
		switch {
		case err != nil:
			damage = &DamageError{What: "event log", Dir: v.where, Reason: fmt.Sprintf("an entry cannot be read while verifying the hash chain: %v", err)}
		case rep.Broken != nil:
			damage = &DamageError{What: "event log", Dir: v.where, Reason: fmt.Sprintf("its hash chain breaks at entry %d: %s", rep.Broken.Seq, rep.Broken.Reason)}
		}
		if damage != nil {
			v.mu.Lock()
			v.damage = damage
			v.mu.Unlock()
			v.log.Refuse(damage)
			v.logger.Error("the event log is damaged: refusing appends until an operator restores it from a backup (hookd log verify gives the details)",
				"err", damage)
			return
		}
		v.mu.Lock()
		v.verified, v.at = rep.Head, time.Now()
		v.mu.Unlock()
		v.logger.Info("hash chain verified", "entries", rep.Checked, "head", rep.Head, "took", time.Since(start).Round(time.Millisecond))
		if v.every <= 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(v.every):
		}
	}
}

// Status is the head and time of the last walk that found the chain
// intact (0 and zero before the first), and the damage found (nil while
// none).
func (v *Verifier) Status() (verified uint64, at time.Time, damage error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.verified, v.at, v.damage
}
