package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/badgerdb"
)

// appendScenario measures durable appends through the Watermill publisher,
// in this process, with many concurrent publishers, against raw Badger
// writing the same bytes in batches with one fsync per batch.
func (b *bench) appendScenario(ctx context.Context) ([]*result, error) {
	var out []*result
	for _, s := range []struct {
		name string
		size int
		n    int
	}{
		{"append ~100 B", 100, b.cfg.appendSmall},
		{"append 2 KiB", 2048, b.cfg.appendBig},
	} {
		r, err := b.appendRun(ctx, s.name, s.size, s.n)
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (b *bench) appendRun(ctx context.Context, name string, size, n int) (*result, error) {
	r := &result{Scenario: name, Unit: "events/s", Concurrency: b.cfg.appendPublishers, PeakRSSOf: "hookbench"}
	dir, err := b.scenarioDir("append")
	if err != nil {
		return r, err
	}

	b.logf("%s: %d events, %d publishers, at most %s", name, n, b.cfg.appendPublishers, b.cfg.appendMax)
	mem := selfPeak()
	store, err := badgerlog.Open(filepath.Join(dir, "log"), badgerlog.Options{})
	if err != nil {
		mem.finish()
		return r, err
	}
	pub := eventlog.NewPublisher(store)
	deadline := time.Now().Add(b.cfg.appendMax)
	var next, done atomic.Int64
	var errs errorCount
	lat := make([][]time.Duration, b.cfg.appendPublishers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range b.cfg.appendPublishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				id := uuid.NewString()
				msg := message.NewMessage(id, appendPayload(nil, rng, id, i, size))
				msg.Metadata.Set(eventlog.MetaName, domain.NameBuildEventReceived)
				t0 := time.Now()
				if err := pub.Publish(eventlog.Topic, msg); err != nil {
					errs.add(err)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	r.PeakRSS, r.PeakAnon = mem.selfPeaks()
	_ = pub.Close()
	if err := store.Close(); err != nil {
		r.note("closing the log: %v", err)
	}
	r.Count, r.Seconds, r.Errors = done.Load(), elapsed.Seconds(), errs.n.Load()
	r.Value = rate(r.Count, elapsed)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	r.P50, r.P99, r.P999 = percentiles(all)
	if r.Count < int64(n) {
		r.note("stopped after %s: %d of %d events appended", b.cfg.appendMax, r.Count, n)
	}
	if err := errs.firstErr(); err != nil {
		b.logf("%s: first error: %v", name, err)
	}
	b.logf("%s: hookd publisher %.0f events/s, Publish p99 %.2f ms", name, r.Value, r.P99)

	mem = selfPeak()
	rawRate, rawN, err := rawBadgerAppend(ctx, filepath.Join(dir, "raw"), size, n, b.cfg.appendMax)
	rawHWM, rawAnon := mem.selfPeaks()
	if err != nil {
		return r, fmt.Errorf("raw badger: %w", err)
	}
	r.Baseline, r.BaselineName = rawRate, "raw Badger, batch + fsync"
	r.extra("baseline_count", rawN)
	r.extra("baseline_peak_rss_bytes", rawHWM)
	r.extra("baseline_peak_rss_anon_bytes", rawAnon)
	r.setRatio()
	b.checkRun(r, nil)
	b.logf("%s: raw Badger %.0f events/s; ratio %.0f%%", name, rawRate, 100*r.Ratio)
	return r, nil
}

// appendPayload is an event body of about size bytes: JSON with a unique
// id and, to fill it, random hex (which compresses like real data, poorly).
func appendPayload(dst []byte, rng *rand.Rand, id string, i int64, size int) []byte {
	dst = fmt.Appendf(dst, `{"event_id":%q,"app_slug":"bench-append","build_number":%d,"pad":"`, id, i)
	const hexdigits = "0123456789abcdef"
	for len(dst) < size-2 {
		dst = append(dst, hexdigits[rng.IntN(16)])
	}
	return append(dst, '"', '}')
}

// rawGroupEntries caps a raw batch as eventlog caps a group commit by
// default; its bytes are capped by badgerdb.MaxTxnBytes, as the log's are.
const rawGroupEntries = 4096

// rawBadgerAppend writes n entries of the log's layout and size (format
// byte, two hashes, time, UUID, metadata, payload) under the log's keys,
// in batches each committed and then fsynced with db.Sync, from one writer.
func rawBadgerAppend(ctx context.Context, dir string, size, n int, limit time.Duration) (float64, int64, error) {
	// The options badgerlog.Open gives the log's Badger.
	db, err := badger.Open(badgerdb.Options(dir, nil, "bench-raw"))
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	prefix := append([]byte{'e'}, eventlog.Topic...)
	prefix = append(prefix, 0)
	deadline := time.Now().Add(limit)
	var seq uint64
	var payload []byte
	start := time.Now()
	for seq < uint64(n) && ctx.Err() == nil && time.Now().Before(deadline) {
		txn := db.NewTransaction(true)
		bytes, entries := 0, 0
		for seq < uint64(n) && entries < rawGroupEntries {
			id := uuid.NewString()
			payload = appendPayload(payload[:0], rng, id, int64(seq), size)
			val := rawEntry(rng, id, payload)
			key := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), seq+1)
			cost := badgerdb.TxnCost(len(key), len(val))
			if entries > 0 && bytes+cost > badgerdb.MaxTxnBytes() {
				break // this entry starts the next batch
			}
			seq++
			err := txn.Set(key, val)
			if errors.Is(err, badger.ErrTxnTooBig) {
				// Full before the caps: commit this batch, start the next.
				if err := commitSync(db, txn); err != nil {
					return 0, 0, err
				}
				txn = db.NewTransaction(true)
				bytes, entries = 0, 0
				err = txn.Set(key, val)
			}
			if err != nil {
				txn.Discard()
				return 0, 0, err
			}
			bytes += cost
			entries++
		}
		if err := commitSync(db, txn); err != nil {
			return 0, 0, err
		}
	}
	return rate(int64(seq), time.Since(start)), int64(seq), nil
}

// commitSync commits a batch and makes it durable with one fsync.
func commitSync(db *badger.DB, txn *badger.Txn) error {
	if err := txn.Commit(); err != nil {
		return err
	}
	return db.Sync()
}

// rawEntry lays out an entry as eventlog stores it, with random bytes in
// place of the two hashes.
func rawEntry(rng *rand.Rand, id string, payload []byte) []byte {
	v := make([]byte, 0, 1+64+8+2+len(id)+1+2+4+2+len(domain.NameBuildEventReceived)+len(payload))
	v = append(v, 2)
	for range 8 {
		v = binary.LittleEndian.AppendUint64(v, rng.Uint64())
	}
	v = binary.BigEndian.AppendUint64(v, uint64(time.Now().UnixNano()))
	v = appendStr(v, id)
	v = binary.AppendUvarint(v, 1)
	v = appendStr(v, eventlog.MetaName)
	v = appendStr(v, domain.NameBuildEventReceived)
	return append(v, payload...)
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
