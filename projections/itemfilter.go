package projections

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/domain"
)

// Secondary indexes of delivery items, for filtered lists. Each entry's
// value is compact (status byte, created_at in Unix nanoseconds), so a
// filtered scan reads the full item only for the items it returns.
const (
	keyItemAll         = 'a' // a <hook> 0 <^seq> → compact
	keyItemStatus      = 's' // s <hook> 0 <status> 0 <^seq> → compact
	keyItemBuild       = 'g' // g <hook> 0 <build slug> 0 <^seq> → compact
	keyItemStatusCount = 'M' // M <hook> 0 <status> → count
	keyItemBuildCount  = 'G' // G <hook> 0 <build slug> 0 <status> → count
)

// Item statuses, as the filters name them and the indexes store them.
const (
	StatusFailed    = "failed"
	StatusSucceeded = "succeeded"
)

// statusByte is the status of an item by the rule redeliver-failed uses
// (domain.DeliveryRecord.Failed): no response, not 2xx, or an error.
func statusByte(d DeliveryItemView) byte {
	if (domain.DeliveryRecord{Status: d.ResponseStatus, Error: d.Error}).Failed() {
		return 'f'
	}
	return 's'
}

func statusCode(status string) byte {
	switch status {
	case StatusFailed:
		return 'f'
	case StatusSucceeded:
		return 's'
	}
	return 0
}

// indexItem writes the secondary index entries and counts of a new item.
func (w *writer) indexItem(d DeliveryItemView, inv uint64) error {
	st := statusByte(d)
	val := binary.BigEndian.AppendUint64([]byte{st}, uint64(d.CreatedAt.UnixNano()))
	if err := w.set(seqKey(keyItemAll, d.HookSlug, inv), val); err != nil {
		return err
	}
	if err := w.set(seqKey(keyItemStatus, d.HookSlug+"\x00"+string(st), inv), val); err != nil {
		return err
	}
	if err := w.add(key(keyItemStatusCount, d.HookSlug, string(st)), 1); err != nil {
		return err
	}
	if err := w.set(seqKey(keyItemBuild, d.HookSlug+"\x00"+d.BuildSlug, inv), val); err != nil {
		return err
	}
	return w.add(key(keyItemBuildCount, d.HookSlug, d.BuildSlug, string(st)), 1)
}

// ItemFilter selects delivery items; its zero value selects all.
type ItemFilter struct {
	Status    string // "", StatusFailed or StatusSucceeded
	BuildSlug string // "" for any build
	// Since and Until bound created_at, inclusive; zero for no bound.
	Since, Until time.Time
}

func (f ItemFilter) timed() bool { return !f.Since.IsZero() || !f.Until.IsZero() }

// IsZero reports whether f selects every item.
func (f ItemFilter) IsZero() bool { return f.Status == "" && f.BuildSlug == "" && !f.timed() }

// ItemClockSlack is how far out of log order delivery items' created_at
// may be (attempts are timed when they finish); a scan for items since a
// time stops only this much before it.
const ItemClockSlack = time.Minute

// MaxScannedPerPage bounds the index entries one page of a filtered list
// reads: a page that reaches it ends early, shorter than its limit (even
// empty), with a paging anchor to continue from.
const MaxScannedPerPage = 2000

// ListDeliveryItemsFiltered returns a page of a hook's delivery items
// that f selects, newest first; Total counts every item f selects. Status
// and build slug are served by secondary indexes and counted by counters;
// a time bound is checked while scanning, and counting with one scans the
// compact index back to the earlier bound (Since, else Until) less
// ItemClockSlack.
func (v *Views) ListDeliveryItemsFiltered(hookSlug string, f ItemFilter, anchor string, limit int) (Page[DeliveryItemView], error) {
	if f.IsZero() {
		return v.ListDeliveryItems(hookSlug, anchor, limit)
	}
	want := statusCode(f.Status)
	if f.Status != "" && want == 0 {
		return Page[DeliveryItemView]{}, &domain.FieldError{Field: "status", Message: "must be failed or succeeded"}
	}
	kind, owner := byte(keyItemAll), hookSlug
	switch {
	case f.BuildSlug != "":
		kind, owner = keyItemBuild, hookSlug+"\x00"+f.BuildSlug
	case want != 0:
		kind, owner = keyItemStatus, hookSlug+"\x00"+string(want)
	}
	prefix := append(key(kind, owner), 0)
	start := seqKey(kind, owner, 0)
	if anchor != "" {
		seq, err := DecodeAnchor(anchor)
		if err != nil {
			return Page[DeliveryItemView]{}, err
		}
		start = seqKey(kind, owner, seq)
	}
	match := func(k, val []byte) (selected, done bool) {
		if len(k) != len(prefix)+8 || len(val) != 9 {
			return false, false // a longer build slug sharing the prefix
		}
		if want != 0 && val[0] != want {
			return false, false
		}
		created := time.Unix(0, int64(binary.BigEndian.Uint64(val[1:])))
		if !f.Since.IsZero() && created.Before(f.Since) {
			return false, created.Before(f.Since.Add(-ItemClockSlack))
		}
		if !f.Until.IsZero() && created.After(f.Until) {
			return false, false
		}
		return true, false
	}
	page := Page[DeliveryItemView]{Items: []DeliveryItemView{}}
	err := v.db.View(func(txn *badger.Txn) error {
		total, err := v.filteredTotal(txn, hookSlug, f, want, prefix, match)
		if err != nil {
			return err
		}
		page.Total = total
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: min(limit+1, 100)})
		defer it.Close()
		scanned := 0
		for it.Seek(start); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(page.Items) == limit || scanned == MaxScannedPerPage {
				page.Next = EncodeAnchor(binary.BigEndian.Uint64(k[len(k)-8:]))
				return nil
			}
			scanned++
			val, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			selected, done := match(k, val)
			if done {
				return nil
			}
			if !selected {
				continue
			}
			var d DeliveryItemView
			inv := binary.BigEndian.Uint64(k[len(k)-8:])
			if err := getJSON(txn, seqKey(keyItem, hookSlug, inv), &d); err != nil {
				return fmt.Errorf("item %d indexed but not readable: %v", ^inv, err) // damage, not "not found"
			}
			page.Items = append(page.Items, d)
		}
		return nil
	})
	if err := v.noteRead(err); err != nil {
		return Page[DeliveryItemView]{}, fmt.Errorf("list %s: %w", hookSlug, err)
	}
	return page, nil
}

// filteredTotal counts the items f selects: from counters, less or plus a
// scan of the compact index when f bounds the time.
func (v *Views) filteredTotal(txn *badger.Txn, hookSlug string, f ItemFilter, want byte, prefix []byte, match func(k, v []byte) (bool, bool)) (uint64, error) {
	var base uint64
	for _, st := range []byte{'f', 's'} {
		if want != 0 && st != want {
			continue
		}
		k := key(keyItemStatusCount, hookSlug, string(st))
		if f.BuildSlug != "" {
			k = key(keyItemBuildCount, hookSlug, f.BuildSlug, string(st))
		}
		n, err := getU64(txn, k)
		if err != nil {
			return 0, err
		}
		base += n
	}
	if !f.timed() {
		return base, nil
	}
	// Only Until: everything selected except what is newer than Until,
	// which is at the front of the index. Else count back to Since.
	onlyUntil := f.Since.IsZero()
	var counted uint64
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
	defer it.Close()
	for it.Seek(prefix); it.Valid(); it.Next() {
		k := it.Item().Key()
		var selected, done, newer bool
		err := it.Item().Value(func(val []byte) error {
			selected, done = match(k, val)
			if onlyUntil && len(k) == len(prefix)+8 && len(val) == 9 && (want == 0 || val[0] == want) {
				created := time.Unix(0, int64(binary.BigEndian.Uint64(val[1:])))
				newer = created.After(f.Until)
				done = created.Before(f.Until.Add(-ItemClockSlack))
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		if done {
			break
		}
		if onlyUntil && newer || !onlyUntil && selected {
			counted++
		}
	}
	if onlyUntil {
		return base - min(counted, base), nil
	}
	return counted, nil
}

// Status names an item's status by the rule redeliver-failed uses:
// StatusFailed or StatusSucceeded.
func (d DeliveryItemView) Status() string {
	if statusByte(d) == 'f' {
		return StatusFailed
	}
	return StatusSucceeded
}
