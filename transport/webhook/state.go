package webhook

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hookd/hookd/domain"
)

// The dispatcher's durable state, saved beside the log (eventlog state
// names). It is derived from the log and only saves a restart from reading
// all of it:
//
//	dispatcher/position      matched (8 bytes) || low water (8 bytes)
//	dispatcher/hook/<slug>   the hook as of matched (domain.Hook JSON)
//
// matched: every build event up to here has its delivery.requested entries
// in the log, and the hooks saved are the registry as of here. low water:
// every request up to here has its delivery.attempted in the log. Each
// save writes the position and only the hooks that changed, in one
// transaction, and nothing at all while the log is idle.
const (
	statePosition   = "dispatcher/position"
	stateHookPrefix = "dispatcher/hook/"
	// stateLegacy is the checkpoint of the dispatcher before
	// delivery.requested existed; it is removed at the first save.
	stateLegacy = "dispatcher.checkpoint"
)

// StateStore keeps the dispatcher's derived state beside the log (its
// position and the hooks as of it); *badgerlog.Store is one. SaveState
// writes its puts and deletions together, so position and hooks never
// disagree; it need not fsync (a restart copes with an older state).
type StateStore interface {
	State(name string) ([]byte, error)
	StatesWithPrefix(prefix string, fn func(name string, value []byte) error) error
	SaveState(put map[string][]byte, del []string) error
}

// stateDelta is one save: values to put by name, names to delete.
type stateDelta struct {
	Put    map[string][]byte
	Delete []string
}

type position struct {
	matched  uint64
	lowWater uint64
}

// loadState reads the saved position and hooks; a log without them
// starts at zero with no hooks.
func loadState(store StateStore) (position, *domain.HookRegistry, error) {
	var pos position
	b, err := store.State(statePosition)
	if err != nil {
		return pos, nil, err
	}
	if b != nil {
		if len(b) != 16 {
			return pos, nil, fmt.Errorf("dispatcher state: position is %d bytes, want 16", len(b))
		}
		pos.matched, pos.lowWater = binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])
	}
	var hooks []domain.Hook
	err = store.StatesWithPrefix(stateHookPrefix, func(name string, v []byte) error {
		var h domain.Hook
		if err := json.Unmarshal(v, &h); err != nil {
			return fmt.Errorf("dispatcher state %s: %w", name, err)
		}
		hooks = append(hooks, h)
		return nil
	})
	if err != nil {
		return pos, nil, err
	}
	if b == nil && len(hooks) > 0 {
		return pos, nil, fmt.Errorf("dispatcher state: %d hooks saved without a position", len(hooks))
	}
	// Saved hooks come back in slug order; creation order per app is what
	// matching promises, and every hook carries its creation time and seq.
	return pos, domain.NewHookRegistryFrom(domain.SortHooksByCreation(hooks)), nil
}

// stateChange is the save of pos with the hooks named in changed as reg
// has them now (absent ones are deleted).
func stateChange(pos position, reg *domain.HookRegistry, changed map[string]struct{}, dropLegacy bool) (stateDelta, error) {
	c := stateDelta{Put: map[string][]byte{
		statePosition: binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, pos.matched), pos.lowWater),
	}}
	for slug := range changed {
		name := stateHookPrefix + slug
		h, ok := reg.Get(slug)
		if !ok {
			c.Delete = append(c.Delete, name)
			continue
		}
		b, err := json.Marshal(h)
		if err != nil {
			return c, fmt.Errorf("dispatcher state: encode hook %s: %w", slug, err)
		}
		c.Put[name] = b
	}
	if dropLegacy {
		c.Delete = append(c.Delete, stateLegacy)
	}
	return c, nil
}

// isRequest reports whether an entry asks for a send.
func isRequest(name string) bool {
	return name == domain.NameDeliveryRequested || name == domain.NameRedeliveryRequested ||
		name == domain.NameTestDeliveryRequested
}

func isHookEvent(name string) bool {
	return strings.HasPrefix(name, "hook.")
}
