package httpapi

import (
	"net/http"

	"github.com/hookd/hookd/domain"
)

type buildEventAccepted struct {
	EventID  string `json:"event_id"`
	Sequence uint64 `json:"sequence"`
}

// receiveBuildEvent appends a build event durably, then answers 202. The
// answer has no matched_hooks: which hooks get the event is decided after
// this by the matcher, from the log, and logged as delivery.requested
// entries; counting hooks here from the views (which may lag the log)
// could disagree with that decision. GET .../build-events/{event_id}
// shows the decision once it is logged.
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
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	build, err := domain.DecodeBuildEvent(app, body)
	if err != nil {
		return err
	}
	id := a.NewID()
	seq, err := a.append(r.Context(), id, domain.BuildEventReceived{
		EventID: id, AppSlug: app, EventType: eventType, Build: build, ReceivedAt: a.Now(), Actor: actorOf(r),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, dataResponse{Data: buildEventAccepted{EventID: id, Sequence: seq}})
	return nil
}
