package eventlog

import (
	"errors"
	"fmt"
)

// MetaUnique is the metadata key of a message's unique key: an append of a
// message whose key an entry of its topic already holds stores nothing and
// fails with a *DuplicateError (see Log). It is stored in the entry like
// any metadata, so it is covered by the hash chain and an export and
// import carry it.
const MetaUnique = "hookd_unique"

// MaxUniqueKey is the longest unique key, in bytes (the shortest is 1).
const MaxUniqueKey = 200

// ErrDuplicate marks an append refused because a message's unique key
// (MetaUnique) is held already; a *DuplicateError says by which entry.
var ErrDuplicate = errors.New("eventlog: the unique key is held already")

// ErrInvalidUnique marks an append refused because a message's unique key
// is empty or longer than MaxUniqueKey: nothing was appended.
var ErrInvalidUnique = errors.New("eventlog: invalid unique key")

// DuplicateError is the refusal of an append one of whose messages has a
// unique key (MetaUnique) held already: nothing of the append was stored.
// Seq is the entry that holds Key in Topic; it is 0 when no entry holds it
// but the append itself carried it twice.
type DuplicateError struct {
	Topic string
	Key   string
	Seq   uint64
}

func (e *DuplicateError) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("%v: unique key %q appears twice in one append to %s (nothing of it was appended)", ErrDuplicate, e.Key, e.Topic)
	}
	return fmt.Sprintf("%v: unique key %q is held by entry %d of %s (nothing of the append was appended)", ErrDuplicate, e.Key, e.Seq, e.Topic)
}

// Is makes a DuplicateError match ErrDuplicate.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// Unwrap returns ErrDuplicate.
func (e *DuplicateError) Unwrap() error { return ErrDuplicate }

// UniqueKey returns m's unique key ("" if it has none) after checking its
// length; an error wraps ErrInvalidUnique and names the message by index i.
func UniqueKey(i int, m AppendMessage) (string, error) {
	k, ok := m.Metadata[MetaUnique]
	if !ok {
		return "", nil
	}
	if len(k) == 0 || len(k) > MaxUniqueKey {
		return "", fmt.Errorf("%w: message %d's %s is %d bytes: a unique key is 1 to %d bytes", ErrInvalidUnique, i, MetaUnique, len(k), MaxUniqueKey)
	}
	return k, nil
}

// CheckUniqueKeys checks the unique keys of msgs (UniqueKey) and returns
// how many messages have one. Adapters call it before taking an append;
// whether a key is held, by an entry or earlier in the same call, is
// theirs to decide.
func CheckUniqueKeys(msgs []AppendMessage) (int, error) {
	n := 0
	for i, m := range msgs {
		k, err := UniqueKey(i, m)
		if err != nil {
			return 0, err
		}
		if k != "" {
			n++
		}
	}
	return n, nil
}
