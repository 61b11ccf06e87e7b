package projections

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/badgerdb"
)

// Apply folds entries, which must follow the checkpoint without a gap, into
// the views. Each transaction writes its views and the checkpoint together.
// Entries at or below the checkpoint are skipped, so applying is idempotent.
func (v *Views) Apply(entries []eventlog.Entry) error {
	for len(entries) > 0 {
		n, err := v.applyTxn(entries)
		if err != nil {
			return err
		}
		entries = entries[n:]
	}
	return nil
}

// applyTxn applies a prefix of entries in one transaction and says how many.
func (v *Views) applyTxn(entries []eventlog.Entry) (int, error) {
	txn := v.db.NewTransaction(true)
	defer txn.Discard()
	cp, err := getU64(txn, []byte{keyCheckpoint})
	if err != nil {
		return 0, fmt.Errorf("read checkpoint: %w", err)
	}
	w := &writer{txn: txn}
	if cp == 0 {
		// Fresh views: say which format they are written in.
		if err := w.set([]byte{keyFormat}, putU64(ViewsFormat)); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, e := range entries {
		if n > 0 && w.bytes >= badgerdb.MaxTxnBytes()/2 {
			break
		}
		n++
		if e.Seq <= cp {
			continue
		}
		if e.Seq != cp+1 {
			return 0, fmt.Errorf("apply entry %d: views are at %d, entries must follow without a gap", e.Seq, cp)
		}
		if err := w.apply(e); err != nil {
			return 0, fmt.Errorf("apply entry %d (%s): %w", e.Seq, e.Name(), err)
		}
		cp = e.Seq
	}
	if err := w.set([]byte{keyCheckpoint}, putU64(cp)); err != nil {
		return 0, err
	}
	if err := txn.Commit(); err != nil {
		return 0, fmt.Errorf("commit views at %d: %w", cp, err)
	}
	return n, nil
}

type writer struct {
	txn   *badger.Txn
	bytes int
}

func (w *writer) set(k, val []byte) error {
	w.bytes += badgerdb.TxnCost(len(k), len(val))
	return w.txn.Set(k, val)
}

func (w *writer) setJSON(k []byte, val any) error {
	b, err := json.Marshal(val)
	if err != nil {
		return err
	}
	return w.set(k, b)
}

func (w *writer) add(k []byte, delta int64) error {
	n, err := getU64(w.txn, k)
	if err != nil {
		return err
	}
	return w.set(k, putU64(uint64(int64(n)+delta)))
}

func (w *writer) apply(e eventlog.Entry) error {
	switch e.Name() {
	case domain.NameHookConfigured, domain.NameHookRemoved, domain.NameDeliveryAttempted, domain.NameRedeliveryRequested,
		domain.NameBuildEventReceived, domain.NameDeliveryRequested, domain.NameTestDeliveryRequested,
		domain.NameTokenIssued, domain.NameTokenRevoked:
	default:
		return nil // other events do not change the views
	}
	ev, err := eventlog.DecodeEntry(e)
	if err != nil {
		return err
	}
	switch ev := ev.(type) {
	case domain.HookConfigured:
		return w.hookConfigured(e.Seq, ev)
	case domain.HookRemoved:
		return w.hookRemoved(ev)
	case domain.DeliveryAttempted:
		return w.deliveryAttempted(e.Seq, ev)
	case domain.RedeliveryRequested:
		if err := w.redeliveryLineage(e.Seq, ev); err != nil {
			return err
		}
		return w.redeliveryRequested(ev)
	case domain.BuildEventReceived:
		return w.buildEventReceived(e.Seq, ev)
	case domain.DeliveryRequested:
		return w.deliveryRequested(e.Seq, ev)
	case domain.TestDeliveryRequested:
		return w.testDeliveryRequested(e.Seq, ev)
	case domain.TokenIssued:
		return w.tokenIssued(e.Seq, ev)
	case domain.TokenRevoked:
		return w.tokenRevoked(ev)
	}
	return nil
}

func (w *writer) hookConfigured(seq uint64, ev domain.HookConfigured) error {
	k, err := hookKey(w.txn, ev.HookSlug)
	var h HookView
	switch {
	case errors.Is(err, domain.ErrHookNotFound):
		if err := w.unretireHook(ev.HookSlug); err != nil {
			return err
		}
		k = seqKey(keyHook, ev.AppSlug, seq)
		h = HookView{Slug: ev.HookSlug, AppSlug: ev.AppSlug, CreatedAt: ev.ConfiguredAt, CreatedSeq: seq, CreatedBy: ev.Actor}
		if err := w.set(key(keyHookIndex, ev.HookSlug), k[1:]); err != nil {
			return err
		}
		if err := w.add(key(keyHookCount, ev.AppSlug), 1); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := getJSON(w.txn, k, &h); err != nil {
			return err
		}
	}
	h.URL, h.Events, h.Headers, h.UpdatedAt, h.UpdatedBy = ev.URL, ev.Events, ev.Headers, ev.ConfiguredAt, ev.Actor
	if ev.SealedSecret != nil {
		h.HasSecret = *ev.SealedSecret != ""
	}
	return w.setJSON(k, h)
}

func (w *writer) hookRemoved(ev domain.HookRemoved) error {
	k, err := hookKey(w.txn, ev.HookSlug)
	if errors.Is(err, domain.ErrHookNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var h HookView
	if err := getJSON(w.txn, k, &h); err != nil {
		return err
	}
	if err := w.txn.Delete(k); err != nil {
		return err
	}
	if err := w.txn.Delete(key(keyHookIndex, ev.HookSlug)); err != nil {
		return err
	}
	// Its delivery items stay in the views and the log, readable with the
	// removed hook.
	if err := w.retireHook(h, k[1:], ev); err != nil {
		return err
	}
	return w.add(key(keyHookCount, h.AppSlug), -1)
}

func (w *writer) deliveryAttempted(seq uint64, ev domain.DeliveryAttempted) error {
	idx := key(keyItemIndex, ev.HookSlug, ev.DeliveryID)
	if existing, err := getU64(w.txn, idx); err != nil {
		return err
	} else if existing != 0 {
		// A pair attempted twice (in flight at a crash) keeps its first
		// record in the views; the log keeps both.
		return nil
	}
	d := DeliveryItemView{
		Slug:         ev.DeliveryID,
		HookSlug:     ev.HookSlug,
		AppSlug:      ev.AppSlug,
		BuildEventID: ev.BuildEventID,
		EventType:    ev.EventType,
		CreatedAt:    ev.AttemptedAt,
		RequestURL:   ev.Request.URL,
		// Credential-like custom headers are sent, but never shown.
		RequestHeaders: domain.MaskCredentialHeaders(ev.Request.Headers),
		RequestPayload: ev.Request.Body,
		DurationMS:     ev.DurationMS,
		Error:          ev.Error,
		RedeliveryOf:   ev.RedeliveryOf,
		Seq:            seq,
		Test:           ev.Test,
	}
	if r := ev.Response; r != nil {
		status, body := r.Status, r.Body
		d.ResponseStatus, d.ResponseHeaders, d.ResponseBody, d.ResponseTruncated = &status, r.Headers, &body, r.Truncated
		d.ResponseHeadersTruncated, d.ResponseBodyEncoding = r.HeadersTruncated, r.BodyEncoding
	}
	if err := w.itemLineage(&d); err != nil {
		return err
	}
	inv := ^seq
	if err := w.setJSON(seqKey(keyItem, ev.HookSlug, inv), d); err != nil {
		return err
	}
	if err := w.indexItem(d, inv); err != nil {
		return err
	}
	if err := w.set(idx, putU64(inv)); err != nil {
		return err
	}
	return w.add(key(keyItemCount, ev.HookSlug), 1)
}
