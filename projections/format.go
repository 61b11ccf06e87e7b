package projections

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// keyFormat holds the views' format version (uint64 big-endian), written
// with the first applied entry. Views without it are format 1.
const keyFormat = 'v'

// ViewsFormat is the format this code writes. Format 2 added build events,
// request lineage on delivery items, the items' secondary indexes and
// removed hooks; views of an older format miss those keys for the entries
// they applied, so OpenViewsDir rebuilds them from the log (beside the live
// ones, as it does damaged views). Format 3 added the API tokens and the
// actors (created_by, updated_by, requested_by, reported_by).
const ViewsFormat = 3

// ErrViewsOutdated means the views were written in an older format than
// ViewsFormat and must be rebuilt from the log.
var ErrViewsOutdated = errors.New("the views are of an older format")

// Format returns the views' format version: 0 for views that applied
// nothing yet, 1 for views written before the version was kept.
func (v *Views) Format() (uint64, error) {
	var f, cp uint64
	err := v.db.View(func(txn *badger.Txn) error {
		var err error
		if cp, err = getU64(txn, []byte{keyCheckpoint}); err != nil {
			return err
		}
		f, err = getU64(txn, []byte{keyFormat})
		return err
	})
	if err != nil {
		return 0, v.noteRead(err)
	}
	if f == 0 && cp > 0 {
		f = 1
	}
	return f, nil
}

// outdated returns an error wrapping ErrViewsOutdated if the views hold
// entries applied in an older format.
func (v *Views) outdated() error {
	f, err := v.Format()
	if err != nil {
		return err
	}
	if f != 0 && f < ViewsFormat {
		return fmt.Errorf("%w: the views in %s are format %d, this hookd writes format %d", ErrViewsOutdated, v.dir, f, ViewsFormat)
	}
	return nil
}
