package webhook

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/hookd/hookd/domain"
)

// checkpointState is the name the dispatcher's checkpoint is saved under.
const checkpointState = "dispatcher.checkpoint"

// checkpoint lets a restart skip most of the log: the hooks as of Seq, and
// every send asked for at or before Seq that had no recorded attempt when
// it was taken. Recovery rescans only from the oldest of those sends (for
// their attempts) and from Seq on (for everything). It is derived from the
// log and rebuilt from it when missing or unreadable.
type checkpoint struct {
	Version     int           `json:"version"`
	Seq         uint64        `json:"seq"`
	Hooks       []domain.Hook `json:"hooks"`
	Outstanding []savedJob    `json:"outstanding"`
}

const checkpointVersion = 1

// maxCheckpointJobs bounds a checkpoint; with more sends outstanding the
// dispatcher keeps the previous one (recovery then scans a little more).
const maxCheckpointJobs = 20000

type savedJob struct {
	Seq          uint64          `json:"seq"`
	DeliveryID   string          `json:"delivery_id"`
	RedeliveryOf string          `json:"redelivery_of,omitempty"`
	BuildEventID string          `json:"build_event_id"`
	EventType    string          `json:"event_type"`
	AppSlug      string          `json:"app_slug"`
	HookSlug     string          `json:"hook_slug"`
	Hook         domain.Hook     `json:"hook"`
	HookFound    bool            `json:"hook_found"`
	Body         json.RawMessage `json:"body"`
}

func saveJob(j job) savedJob {
	return savedJob{Seq: j.seq, DeliveryID: j.deliveryID, RedeliveryOf: j.redeliveryOf, BuildEventID: j.buildEventID,
		EventType: j.eventType, AppSlug: j.appSlug, HookSlug: j.hookSlug, Hook: j.hook, HookFound: j.hookFound, Body: j.body}
}

func (s savedJob) job() job {
	return job{seq: s.Seq, deliveryID: s.DeliveryID, redeliveryOf: s.RedeliveryOf, buildEventID: s.BuildEventID,
		eventType: s.EventType, appSlug: s.AppSlug, hookSlug: s.HookSlug, hook: s.Hook, hookFound: s.HookFound, body: s.Body}
}

// track notes a send before it is queued; untrack once its attempt is in
// the log.
func (d *Dispatcher) track(j job) {
	d.outMu.Lock()
	d.outstanding[j.deliveryID] = j
	d.outMu.Unlock()
}

func (d *Dispatcher) untrack(id string) {
	d.outMu.Lock()
	delete(d.outstanding, id)
	d.outMu.Unlock()
}

// maybeCheckpoint saves a checkpoint at most every CheckpointEvery. Only
// the ordered stage calls it, after handling the entry at d.lastSeq.
func (d *Dispatcher) maybeCheckpoint(force bool) {
	if !force && time.Since(d.lastCheckpoint) < d.cfg.CheckpointEvery {
		return
	}
	d.lastCheckpoint = time.Now()
	d.outMu.Lock()
	if len(d.outstanding) > maxCheckpointJobs {
		d.outMu.Unlock()
		return
	}
	jobs := make([]savedJob, 0, len(d.outstanding))
	for j := range maps.Values(d.outstanding) {
		jobs = append(jobs, saveJob(j))
	}
	d.outMu.Unlock()
	b, err := json.Marshal(checkpoint{Version: checkpointVersion, Seq: d.lastSeq, Hooks: d.registry.Hooks(), Outstanding: jobs})
	if err == nil {
		err = d.store.PutState(checkpointState, b)
	}
	if err != nil {
		d.logger.Warn("could not save the dispatcher checkpoint; the next start scans more of the log", "err", err)
	}
}

// loadCheckpoint returns the saved checkpoint, if a usable one exists.
func (d *Dispatcher) loadCheckpoint() (checkpoint, bool) {
	b, err := d.store.State(checkpointState)
	if err != nil || b == nil {
		if err != nil {
			d.logger.Warn("could not read the dispatcher checkpoint; scanning the whole log", "err", err)
		}
		return checkpoint{}, false
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil || cp.Version != checkpointVersion {
		d.logger.Warn("ignoring an unreadable dispatcher checkpoint; scanning the whole log", "err", fmt.Sprint(err))
		return checkpoint{}, false
	}
	return cp, true
}
