package projections

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/internal/badgerdb"
)

// HookView is a hook as the API lists it. It never holds the secret.
type HookView struct {
	Slug       string            `json:"slug"`
	AppSlug    string            `json:"app_slug"`
	URL        string            `json:"url"`
	Events     []string          `json:"events"`
	Headers    map[string]string `json:"headers"`
	HasSecret  bool              `json:"has_secret"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	CreatedSeq uint64            `json:"created_seq"`
	// CreatedBy and UpdatedBy are who created the hook and who last
	// changed (or removed) it; nil for changes logged before actors were.
	CreatedBy *domain.Actor `json:"created_by,omitempty"`
	UpdatedBy *domain.Actor `json:"updated_by,omitempty"`
	// DeletedAt is set on a removed hook, kept for its history, and
	// DeletedBy says who removed it.
	DeletedAt *time.Time    `json:"deleted_at,omitempty"`
	DeletedBy *domain.Actor `json:"deleted_by,omitempty"`
}

// DeliveryItemView is one delivery attempt as the API shows it.
type DeliveryItemView struct {
	Slug                     string              `json:"slug"`
	HookSlug                 string              `json:"hook_slug"`
	AppSlug                  string              `json:"app_slug"`
	BuildEventID             string              `json:"build_event_id"`
	EventType                string              `json:"event_type"`
	CreatedAt                time.Time           `json:"created_at"`
	RequestURL               string              `json:"request_url"`
	RequestHeaders           map[string]string   `json:"request_headers"`
	RequestPayload           json.RawMessage     `json:"request_payload"`
	ResponseStatus           *int                `json:"response_status,omitempty"`
	ResponseHeaders          map[string][]string `json:"response_headers,omitempty"`
	ResponseHeadersTruncated bool                `json:"response_headers_truncated,omitempty"`
	ResponseBody             *string             `json:"response_body,omitempty"`
	// ResponseBodyEncoding is domain.Response.BodyEncoding: "" for UTF-8
	// text, "base64" for the base64 of bytes that are not.
	ResponseBodyEncoding string `json:"response_body_encoding,omitempty"`
	ResponseTruncated    bool   `json:"response_truncated,omitempty"`
	DurationMS           int64  `json:"duration_ms"`
	// Error is why no response arrived, or why the one that did failed
	// (its body cut off); "" otherwise.
	Error        string `json:"error,omitempty"`
	RedeliveryOf string `json:"redelivery_of,omitempty"`
	// RedeliveredBy lists the redeliveries requested of this item (their
	// item slugs), in request order, whether attempted yet or not.
	RedeliveredBy []string `json:"redelivered_by,omitempty"`
	// Seq is the sequence of the delivery.attempted entry.
	Seq uint64 `json:"seq"`
	// BuildEventSeq is the sequence of the build event, RequestSeq that
	// of the delivery.requested or redelivery.requested entry that asked
	// for this item (0 when the log holds none: attempts logged before
	// requests were), and BuildSlug the build's slug.
	BuildEventSeq uint64 `json:"build_event_seq,omitempty"`
	RequestSeq    uint64 `json:"request_seq,omitempty"`
	BuildSlug     string `json:"build_slug,omitempty"`
	// Test marks a test delivery (test_delivery.requested): it has no
	// build event (BuildEventID "", BuildEventSeq 0), and RequestSeq is
	// its test request's sequence.
	Test bool `json:"test,omitempty"`
	// RequestedBy is who asked for this item: the token behind a
	// redelivery or a test, hookd itself (the matcher) for a build
	// event's first delivery; nil when the log does not say.
	RequestedBy *domain.Actor `json:"requested_by,omitempty"`
}

// Page is one page of a list.
type Page[T any] struct {
	Items []T
	Total uint64
	// Next is the anchor of the following page, "" on the last page.
	Next string
}

// ErrBadAnchor marks a pagination anchor that this server did not make.
var ErrBadAnchor error = &domain.FieldError{Field: "next", Message: "not a valid page anchor; pass back the paging.next of a previous answer"}

// Views is the views database.
type Views struct {
	db     *badger.DB
	gc     *badgerdb.ValueLogGC
	dir    string
	logger *slog.Logger

	mu     sync.Mutex
	damage error // the first read that found the views damaged
}

// ViewsOption changes how OpenViews opens the views.
type ViewsOption func(*viewsOptions)

type viewsOptions struct {
	gcInterval time.Duration
	bulk       bool // a rebuild's first pass (see bulkOptions)
	readOnly   bool
}

// WithValueLogGCInterval sets how often the views' value log is
// garbage-collected (see badgerdb.ValueLogGC): 0 means
// badgerdb.DefaultValueLogGCInterval, negative means never.
func WithValueLogGCInterval(d time.Duration) ViewsOption {
	return func(o *viewsOptions) { o.gcInterval = d }
}

// OpenViews opens (or creates) the views database in dir, and starts the
// garbage collection of its value log. It neither checks nor repairs them:
// serve opens them with OpenViewsDir.
func OpenViews(dir string, logger *slog.Logger, opts ...ViewsOption) (*Views, error) {
	var o viewsOptions
	for _, opt := range opts {
		opt(&o)
	}
	return openViews(dir, logger, o)
}

func openViews(dir string, logger *slog.Logger, o viewsOptions) (*Views, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	bo := badgerOptions(dir, logger)
	if o.bulk {
		bo = bulkOptions(dir, logger)
	}
	bo.ReadOnly = o.readOnly
	db, err := openBadger(bo)
	if err != nil {
		return nil, err
	}
	if o.gcInterval == 0 {
		o.gcInterval = badgerdb.DefaultValueLogGCInterval
	}
	gc := badgerdb.StartValueLogGC(db, o.gcInterval, logger.With("component", "value-log-gc"), "views")
	return &Views{db: db, gc: gc, dir: dir, logger: logger}, nil
}

// Close stops the value-log GC and closes the views database.
func (v *Views) Close() error {
	v.gc.Stop()
	return v.db.Close()
}

// DB exposes the database to tests that compare views byte for byte.
func (v *Views) DB() *badger.DB { return v.db }

const (
	keyCheckpoint = 'c'
	keyHook       = 'h'
	keyHookIndex  = 'H'
	keyHookCount  = 'n'
	keyItem       = 'd'
	keyItemIndex  = 'D'
	keyItemCount  = 'm'
)

func key(kind byte, parts ...string) []byte {
	k := []byte{kind}
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

func seqKey(kind byte, owner string, seq uint64) []byte {
	k := append(key(kind, owner), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func u64(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putU64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// Checkpoint returns the sequence of the last event applied to the views.
func (v *Views) Checkpoint() (uint64, error) {
	var cp uint64
	err := v.db.View(func(txn *badger.Txn) error {
		var err error
		cp, err = getU64(txn, []byte{keyCheckpoint})
		return err
	})
	return cp, v.noteRead(err)
}

func getU64(txn *badger.Txn, k []byte) (uint64, error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n uint64
	err = item.Value(func(v []byte) error { n = u64(v); return nil })
	return n, err
}

func getJSON(txn *badger.Txn, k []byte, dst any) error {
	item, err := txn.Get(k)
	if err != nil {
		return err
	}
	return item.Value(func(v []byte) error { return json.Unmarshal(v, dst) })
}

// Hook returns the hook with that slug if it belongs to the app.
func (v *Views) Hook(appSlug, hookSlug string) (HookView, error) {
	return v.hookAt(keyHookIndex, keyHook, appSlug, hookSlug)
}

// hookAt reads the app's hook through the index of kind idx into the
// views of kind data: the live hooks, or the removed ones.
func (v *Views) hookAt(idx, data byte, appSlug, hookSlug string) (HookView, error) {
	var h HookView
	err := v.db.View(func(txn *badger.Txn) error {
		k, err := indexedKey(txn, idx, data, hookSlug)
		if err != nil {
			return err
		}
		if err := getJSON(txn, k, &h); err != nil {
			return err
		}
		if h.AppSlug != appSlug {
			return domain.ErrHookNotFound
		}
		return nil
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		err = domain.ErrHookNotFound
	}
	if err := v.noteRead(err); err != nil {
		return HookView{}, fmt.Errorf("get webhook %s: %w", hookSlug, err)
	}
	return h, nil
}

// hookKey finds the view key of a live hook through its index.
func hookKey(txn *badger.Txn, hookSlug string) ([]byte, error) {
	return indexedKey(txn, keyHookIndex, keyHook, hookSlug)
}

// indexedKey finds the key of kind data that the index of kind idx holds
// for hookSlug.
func indexedKey(txn *badger.Txn, idx, data byte, hookSlug string) ([]byte, error) {
	item, err := txn.Get(key(idx, hookSlug))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, domain.ErrHookNotFound
	}
	if err != nil {
		return nil, err
	}
	rest, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	return append([]byte{data}, rest...), nil
}

// ListHooks returns a page of the app's hooks in creation order.
func (v *Views) ListHooks(appSlug, anchor string, limit int) (Page[HookView], error) {
	return listPage[HookView](v, keyHook, keyHookCount, appSlug, anchor, limit)
}

// DeliveryItem returns one delivery item of a hook.
func (v *Views) DeliveryItem(hookSlug, itemSlug string) (DeliveryItemView, error) {
	var d DeliveryItemView
	err := v.db.View(func(txn *badger.Txn) error {
		inv, err := getU64(txn, key(keyItemIndex, hookSlug, itemSlug))
		if err != nil {
			return err
		}
		if inv == 0 {
			return domain.ErrDeliveryNotFound
		}
		return getJSON(txn, seqKey(keyItem, hookSlug, inv), &d)
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		err = domain.ErrDeliveryNotFound
	}
	if err := v.noteRead(err); err != nil {
		return DeliveryItemView{}, fmt.Errorf("get delivery item %s: %w", itemSlug, err)
	}
	return d, nil
}

// ListDeliveryItems returns a page of a hook's delivery items, newest first.
func (v *Views) ListDeliveryItems(hookSlug, anchor string, limit int) (Page[DeliveryItemView], error) {
	return listPage[DeliveryItemView](v, keyItem, keyItemCount, hookSlug, anchor, limit)
}

// listPage reads up to limit values under kind+owner starting at the
// anchor's key, and the anchor of the page after. Badger ends an
// iteration quietly at a block that fails its checksum, so a first page
// shorter than its count says is taken as damage, not passed on.
func listPage[T any](v *Views, kind, countKind byte, owner, anchor string, limit int) (Page[T], error) {
	start := seqKey(kind, owner, 0)
	if anchor != "" {
		seq, err := DecodeAnchor(anchor)
		if err != nil {
			return Page[T]{}, err
		}
		start = seqKey(kind, owner, seq)
	}
	prefix := append(key(kind, owner), 0)
	page := Page[T]{Items: []T{}}
	err := v.db.View(func(txn *badger.Txn) error {
		var err error
		if page.Total, err = getU64(txn, key(countKind, owner)); err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: limit + 1})
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(page.Items) == limit {
				page.Next = EncodeAnchor(binary.BigEndian.Uint64(k[len(k)-8:]))
				return nil
			}
			var item T
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &item) }); err != nil {
				return err
			}
			page.Items = append(page.Items, item)
		}
		if anchor == "" && uint64(len(page.Items)) < page.Total {
			return fmt.Errorf("%d listed where the count says %d", len(page.Items), page.Total)
		}
		return nil
	})
	if err := v.noteRead(err); err != nil {
		return Page[T]{}, fmt.Errorf("list %s: %w", owner, err)
	}
	return page, nil
}

// EncodeAnchor makes the opaque anchor for a key's sequence part.
func EncodeAnchor(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString(putU64(seq))
}

// DecodeAnchor parses an anchor made by EncodeAnchor. Only the exact
// string EncodeAnchor makes is accepted: base64 would also take line
// breaks and non-zero trailing bits, other spellings of the same anchor.
func DecodeAnchor(anchor string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(anchor)
	if err != nil || len(b) != 8 {
		return 0, ErrBadAnchor
	}
	seq := binary.BigEndian.Uint64(b)
	if EncodeAnchor(seq) != anchor {
		return 0, ErrBadAnchor
	}
	return seq, nil
}
