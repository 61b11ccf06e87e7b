package projections

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/domain"
)

// Keys of removed hooks, kept so that their history stays readable.
const (
	keyHookDeleted      = 'z' // z <app> 0 <created seq> → HookView with DeletedAt
	keyHookDeletedIndex = 'X' // X <hook> → <app> 0 <created seq>
	keyHookDeletedCount = 'N' // N <app> → number of removed hooks
)

// retireHook keeps the removed hook h, whose live key ended in rest
// (<app> 0 <created seq>), among the app's removed hooks.
func (w *writer) retireHook(h HookView, rest []byte, ev domain.HookRemoved) error {
	at := ev.RemovedAt
	h.DeletedAt = &at
	h.DeletedBy = ev.Actor
	if err := w.setJSON(append([]byte{keyHookDeleted}, rest...), h); err != nil {
		return err
	}
	if err := w.set(key(keyHookDeletedIndex, h.Slug), rest); err != nil {
		return err
	}
	return w.add(key(keyHookDeletedCount, h.AppSlug), 1)
}

// unretireHook forgets a removed hook whose slug is configured again (the
// API never does that; the log might).
func (w *writer) unretireHook(slug string) error {
	item, err := w.txn.Get(key(keyHookDeletedIndex, slug))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	rest, err := item.ValueCopy(nil)
	if err != nil {
		return err
	}
	app, _, _ := bytes.Cut(rest, []byte{0})
	if err := w.txn.Delete(append([]byte{keyHookDeleted}, rest...)); err != nil {
		return err
	}
	if err := w.txn.Delete(key(keyHookDeletedIndex, slug)); err != nil {
		return err
	}
	return w.add(key(keyHookDeletedCount, string(app)), -1)
}

// HookIncludingDeleted returns the app's hook with that slug, live or
// removed (then with DeletedAt set).
func (v *Views) HookIncludingDeleted(appSlug, hookSlug string) (HookView, error) {
	h, err := v.Hook(appSlug, hookSlug)
	if !errors.Is(err, domain.ErrHookNotFound) {
		return h, err
	}
	return v.hookAt(keyHookDeletedIndex, keyHookDeleted, appSlug, hookSlug)
}

// ListHooksIncludingDeleted returns a page of the app's hooks, live and
// removed, in creation order; Total counts both. Both are kept under
// their creation sequence, so a page merges two seeks.
func (v *Views) ListHooksIncludingDeleted(appSlug, anchor string, limit int) (Page[HookView], error) {
	var from uint64
	if anchor != "" {
		seq, err := DecodeAnchor(anchor)
		if err != nil {
			return Page[HookView]{}, err
		}
		from = seq
	}
	page := Page[HookView]{Items: []HookView{}}
	err := v.db.View(func(txn *badger.Txn) error {
		live, err := getU64(txn, key(keyHookCount, appSlug))
		if err != nil {
			return err
		}
		gone, err := getU64(txn, key(keyHookDeletedCount, appSlug))
		if err != nil {
			return err
		}
		page.Total = live + gone
		var its [2]*badger.Iterator
		for i, kind := range []byte{keyHook, keyHookDeleted} {
			prefix := append(key(kind, appSlug), 0)
			its[i] = txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: limit + 1})
			defer its[i].Close()
			its[i].Seek(seqKey(kind, appSlug, from))
		}
		seqOf := func(it *badger.Iterator) uint64 {
			k := it.Item().Key()
			return binary.BigEndian.Uint64(k[len(k)-8:])
		}
		for {
			var next *badger.Iterator
			for _, it := range its {
				if it.Valid() && (next == nil || seqOf(it) < seqOf(next)) {
					next = it
				}
			}
			if next == nil {
				return nil
			}
			if len(page.Items) == limit {
				page.Next = EncodeAnchor(seqOf(next))
				return nil
			}
			var h HookView
			if err := next.Item().Value(func(b []byte) error { return json.Unmarshal(b, &h) }); err != nil {
				return err
			}
			page.Items = append(page.Items, h)
			next.Next()
		}
	})
	if err := v.noteRead(err); err != nil {
		return Page[HookView]{}, fmt.Errorf("list %s: %w", appSlug, err)
	}
	return page, nil
}
