package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

type buildEventAccepted struct {
	EventID  string `json:"event_id"`
	Sequence uint64 `json:"sequence"`
	// Duplicate is true when the event was logged before (same app, event
	// type and build_slug, or the same Idempotency-Key) and this request
	// logged nothing: EventID and Sequence are the original's.
	Duplicate bool `json:"duplicate"`
}

// maxIdempotencyKey is the longest Idempotency-Key header taken, in bytes.
const maxIdempotencyKey = 255

// receiveBuildEvent appends a build event durably, then answers 202. The
// answer has no matched_hooks: which hooks get the event is decided after
// this by the matcher, from the log, and logged as delivery.requested
// entries; counting hooks here from the views (which may lag the log)
// could disagree with that decision. GET .../build-events/{event_id}
// shows the decision once it is logged.
//
// The event is appended with a unique key (eventlog.MetaUnique), so a
// retry is logged once: the Idempotency-Key header's when given, else the
// app's, event type's and build slug's. A repeat appends nothing and is
// answered 200 with the original's event_id and sequence and
// "duplicate": true. The log decides (whatever process took the first),
// and holds a key for as long as it holds the entry: the window is the
// whole log.
func (a *api) receiveBuildEvent(w http.ResponseWriter, r *http.Request) error {
	app, err := appSlug(r)
	if err != nil {
		return err
	}
	eventType := r.Header.Get("Bitrise-Event-Type")
	if !domain.ValidEventType(eventType) {
		return &domain.FieldError{Field: "Bitrise-Event-Type", Message: "header must be " +
			domain.EventBuildTriggered + " or " + domain.EventBuildFinished}
	}
	idemKey, hasKey, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	build, err := domain.DecodeBuildEvent(app, body)
	if err != nil {
		return err
	}
	unique := buildUniqueKey(app, eventType, build.BuildSlug)
	if hasKey {
		unique = idempotencyUniqueKey(app, eventType, idemKey)
	}
	id := a.NewID()
	seq, err := a.appendUnique(r.Context(), id, unique, domain.BuildEventReceived{
		EventID: id, AppSlug: app, EventType: eventType, Build: build, ReceivedAt: a.Now(),
		IdempotencyKey: idemKey, Actor: actorOf(r),
	})
	var dup *eventlog.DuplicateError
	if errors.As(err, &dup) && dup.Seq != 0 {
		orig, err := a.loggedBuildEvent(r.Context(), dup.Seq)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, dataResponse{Data: buildEventAccepted{EventID: orig, Sequence: dup.Seq, Duplicate: true}})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, dataResponse{Data: buildEventAccepted{EventID: id, Sequence: seq}})
	return nil
}

// idempotencyKey returns the Idempotency-Key header's value and whether
// it was sent: 1 to 255 printable ASCII characters, no space at either
// end, else a FieldError naming it.
func idempotencyKey(r *http.Request) (string, bool, error) {
	vs, ok := r.Header["Idempotency-Key"]
	if !ok {
		return "", false, nil
	}
	bad := func(msg string) (string, bool, error) {
		return "", false, &domain.FieldError{Field: "Idempotency-Key", Message: msg}
	}
	if len(vs) != 1 {
		return bad("header must be given once")
	}
	v := vs[0]
	if len(v) == 0 || len(v) > maxIdempotencyKey {
		return bad(fmt.Sprintf("header must be 1 to %d characters (it is %d)", maxIdempotencyKey, len(v)))
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e {
			return bad("header must be printable ASCII")
		}
	}
	if v[0] == ' ' || v[len(v)-1] == ' ' {
		return bad("header must not begin or end with a space")
	}
	return v, true, nil
}

// buildUniqueKey is the unique key of a build event without an
// Idempotency-Key: its app, event type and build slug.
func buildUniqueKey(app, eventType, buildSlug string) string {
	sum := sha256.Sum256([]byte(app + "\x00" + eventType + "\x00" + buildSlug))
	return "build:" + hex.EncodeToString(sum[:])
}

// idempotencyUniqueKey is the unique key of a build event sent with an
// Idempotency-Key: its app, its event type and the key. The type is part
// of it so that a client using one key (its build's slug, say) for the
// triggered and the finished event reports both, not one.
func idempotencyUniqueKey(app, eventType, key string) string {
	sum := sha256.Sum256([]byte(app + "\x00" + eventType + "\x00" + key))
	return "key:" + hex.EncodeToString(sum[:])
}

// loggedBuildEvent returns the event id of the build event logged at seq:
// the original a repeat is answered with.
func (a *api) loggedBuildEvent(ctx context.Context, seq uint64) (string, error) {
	if a.LogReader == nil {
		return "", errNoLogReader
	}
	e, err := a.LogReader.ReadEntry(ctx, eventlog.Topic, seq)
	if err != nil {
		return "", fmt.Errorf("read the build event a repeat is of, at %d: %w", seq, err)
	}
	ev, err := eventlog.DecodeEntry(e)
	if err != nil {
		return "", err
	}
	b, ok := ev.(domain.BuildEventReceived)
	if !ok {
		return "", fmt.Errorf("entry %d holding a build event's unique key is a %s", seq, e.Name())
	}
	return b.EventID, nil
}
