package projections

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/ristretto/v2/z"
)

// A rebuild replays the log in two passes, so that its memory does not
// grow with the log. Replayed straight into views with hookd's usual
// options, every delivery item would be rewritten by compaction at each
// level of the LSM tree: the table builders of the compactions (Badger
// holds a whole table, compressed and not, per builder, and keeps up to
// eight builders' buffers pooled) took most of 600-930 MB at 1,000,000
// entries, and most of the time went into compactions. So the first pass replays into "bulk" views whose values, except
// counters and index entries, go to the value log (bulkValueThreshold):
// their LSM tree holds keys and value pointers, small to compact. The
// second pass (copyViews) reads the bulk views in key order and writes
// them with a StreamWriter, which writes the tables of the final views
// directly at their last level, values inline and compressed, without any
// compaction: the final views hold the same keys and values as views the
// live runner built, their values in the LSM tree as there.

// bulkValueThreshold is the longest value the bulk views keep in their
// LSM tree: counters, checkpoints and index entries (8 to ~50 bytes).
const bulkValueThreshold = 64

// copyBatchBytes is how much a copy hands the StreamWriter at once.
const copyBatchBytes = 2 << 20

// bulkOptions are the options of the first pass's views (see above).
func bulkOptions(dir string, logger *slog.Logger) badger.Options {
	o := badgerOptions(dir, logger)
	o.ValueThreshold = bulkValueThreshold
	return o
}

// copyDropEvery is how many values a copy reads between two calls of its
// read callback (see copyBulk): with up to ~200 KiB mapped per value read,
// a few MiB.
const copyDropEvery = 32

// copyViews writes every live key of src, with its value and version,
// into dst, which must be empty and not otherwise written meanwhile;
// it calls read with the number of values read every copyDropEvery.
func copyViews(ctx context.Context, src, dst *Views, read func(n int)) error {
	sw := dst.db.NewStreamWriter()
	if err := sw.Prepare(); err != nil {
		return fmt.Errorf("copy views: %w", err)
	}
	defer sw.Cancel()
	buf := z.NewBuffer(copyBatchBytes+copyBatchBytes/4, "hookd.copyViews")
	defer func() { _ = buf.Release() }()
	flush := func() error {
		if buf.LenNoPadding() == 0 {
			return nil
		}
		if err := sw.Write(buf); err != nil {
			return fmt.Errorf("copy views: write: %w", err)
		}
		buf.Reset()
		return nil
	}
	err := src.db.View(func(txn *badger.Txn) error {
		// Values read one at a time, as they are copied: prefetched, a
		// hundred would be mapped between two calls of read.
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%copyDropEvery == 0 {
				read(n)
			}
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("copy views: read %q: %w", item.Key(), err)
			}
			badger.KVToBuffer(&pb.KV{Key: item.KeyCopy(nil), Value: v, UserMeta: []byte{item.UserMeta()},
				Version: item.Version(), ExpiresAt: item.ExpiresAt()}, buf)
			if buf.LenNoPadding() >= copyBatchBytes {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("copy views: %w", err)
	}
	return nil
}
