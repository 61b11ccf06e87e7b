package httpapi

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/projections"
)

func newUUID() string { return uuid.NewString() }

// hookInput is the body of POST and PUT on hooks.
type hookInput struct {
	URL     string            `json:"url"`
	Events  []string          `json:"events"`
	Headers map[string]string `json:"headers"`
	Secret  *string           `json:"secret"`
}

// hookJSON is a hook as the API returns it; the secret never appears, and
// neither do the values of credential-like headers (domain.IsMaskedHeader):
// they read as domain.Masked, which a PUT may send back to keep them.
type hookJSON struct {
	Slug    string            `json:"slug"`
	URL     string            `json:"url"`
	Events  []string          `json:"events"`
	Headers map[string]string `json:"headers"`
	// MaskedHeaders (an extension) names, sorted, the headers whose values
	// read as domain.Masked because they are hidden, telling them from a
	// value that is really "REDACTED".
	MaskedHeaders []string  `json:"masked_headers"`
	HasSecret     bool      `json:"has_secret"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// DeletedAt (an extension) is set only on removed hooks, which only
	// ?include_deleted=true lists.
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	// CreatedBy, UpdatedBy and DeletedBy (extensions) are the actors of
	// the hook's creation, last change and removal: {"token_id",
	// "token_name"}; absent for changes logged before actors were.
	CreatedBy *domain.Actor `json:"created_by,omitempty"`
	UpdatedBy *domain.Actor `json:"updated_by,omitempty"`
	DeletedBy *domain.Actor `json:"deleted_by,omitempty"`
}

// toHookJSON is every hook answer's shape, masked.
func toHookJSON(h projections.HookView) hookJSON {
	masked := []string{}
	for _, name := range slices.Sorted(maps.Keys(h.Headers)) {
		if domain.IsMaskedHeader(name) {
			masked = append(masked, name)
		}
	}
	out := hookJSON{Slug: h.Slug, URL: h.URL, Events: h.Events, Headers: domain.MaskCredentialHeaders(h.Headers),
		MaskedHeaders: masked, HasSecret: h.HasSecret, CreatedAt: h.CreatedAt.UTC(), UpdatedAt: h.UpdatedAt.UTC(),
		CreatedBy: h.CreatedBy, UpdatedBy: h.UpdatedBy, DeletedBy: h.DeletedBy}
	out.DeletedAt = utcPtr(h.DeletedAt)
	return out
}

// writtenHook is the hook as ev leaves it: what the views show once they
// apply ev, built without them. current is the hook as read before ev was
// appended, nil for a new hook; it gives created_at and, when ev leaves
// the secret alone, has_secret.
func writtenHook(ev domain.HookConfigured, current *projections.HookView) hookJSON {
	h := projections.HookView{Slug: ev.HookSlug, AppSlug: ev.AppSlug, URL: ev.URL, Events: ev.Events,
		Headers: ev.Headers, CreatedAt: ev.ConfiguredAt, UpdatedAt: ev.ConfiguredAt, CreatedBy: ev.Actor, UpdatedBy: ev.Actor}
	if current != nil {
		h.CreatedAt, h.HasSecret, h.CreatedBy = current.CreatedAt, current.HasSecret, current.CreatedBy
	}
	if ev.SealedSecret != nil {
		h.HasSecret = *ev.SealedSecret != ""
	}
	return toHookJSON(h)
}

// append writes one event and returns its sequence.
func (a *api) append(ctx context.Context, id string, ev domain.Event) (uint64, error) {
	return a.appendUnique(ctx, id, "", ev)
}

// appendUnique is append with a unique key (eventlog.MetaUnique; none if
// ""): if an entry holds it already, nothing is appended and the error is
// the log's *eventlog.DuplicateError.
func (a *api) appendUnique(ctx context.Context, id, unique string, ev domain.Event) (uint64, error) {
	msg, err := eventlog.EncodeEvent(id, ev)
	if err != nil {
		return 0, err
	}
	if unique != "" {
		msg.Metadata.Set(eventlog.MetaUnique, unique)
	}
	seqs, err := a.Log.Append(ctx, eventlog.Topic, msg)
	if err != nil {
		return 0, fmt.Errorf("append %s: %w", ev.EventName(), err)
	}
	return seqs[0], nil
}

// appendHookChange appends a hook event and waits until the views show it,
// so the caller's next read sees its own write.
func (a *api) appendHookChange(ctx context.Context, ev domain.Event) error {
	seq, err := a.append(ctx, a.NewID(), ev)
	if err != nil {
		return err
	}
	_ = a.waitForViews(ctx, seq)
	return nil
}

// waitForViews waits, at most ViewWait, until the views show the entry at
// seq, and says why not if they did not. The write is durable already;
// waiting spares the caller a stale read, so most answers ignore the
// error (a revocation's does not: it is in effect only once seen).
func (a *api) waitForViews(ctx context.Context, seq uint64) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.ViewWait)
	defer cancel()
	err := a.Waiter.WaitFor(wctx, seq)
	if err != nil {
		a.Logger.Warn("views are behind the log", "seq", seq, "err", err)
	}
	return err
}

// configure validates a hook body into a HookConfigured for hookSlug.
func (a *api) configure(w http.ResponseWriter, r *http.Request, app, hookSlug string) (domain.HookConfigured, error) {
	var in hookInput
	if err := decodeBody(w, r, &in); err != nil {
		return domain.HookConfigured{}, err
	}
	spec, err := domain.ValidateHookSpec(domain.HookSpec{URL: in.URL, Events: in.Events, Headers: in.Headers, Secret: in.Secret})
	if err != nil {
		return domain.HookConfigured{}, err
	}
	if err := a.Targets.CheckURL(r.Context(), spec.URL); err != nil {
		return domain.HookConfigured{}, err
	}
	ev := domain.HookConfigured{
		HookSlug: hookSlug, AppSlug: app, URL: spec.URL, Events: spec.Events, Headers: spec.Headers,
		ConfiguredAt: a.Now(), Actor: actorOf(r),
	}
	if spec.Secret != nil {
		// The secret goes into the log sealed, never in clear.
		sealed := ""
		if *spec.Secret != "" {
			if sealed, err = a.Sealer.Seal(*spec.Secret, hookSlug); err != nil {
				return domain.HookConfigured{}, err
			}
		}
		ev.SealedSecret = &sealed
	}
	return ev, nil
}

func (a *api) createHook(w http.ResponseWriter, r *http.Request) error {
	app, err := appSlug(r)
	if err != nil {
		return err
	}
	ev, err := a.configure(w, r, app, a.NewID())
	if err != nil {
		return err
	}
	// A new hook has no stored header value that REDACTED could keep.
	if ev.Headers, err = domain.KeepMaskedHeaders(ev.Headers, nil); err != nil {
		return err
	}
	// A new slug: nothing to decide from, nothing to interleave with.
	if err := a.appendHookChange(r.Context(), ev); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dataResponse{Data: writtenHook(ev, nil)})
	return nil
}

func (a *api) listHooks(w http.ResponseWriter, r *http.Request) error {
	app, err := appSlug(r)
	if err != nil {
		return err
	}
	anchor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	list := a.Views.ListHooks
	switch v := r.URL.Query().Get("include_deleted"); v {
	case "", "false":
	case "true":
		list = a.Views.ListHooksIncludingDeleted
	default:
		return &domain.FieldError{Field: "include_deleted", Message: "must be true or false"}
	}
	page, err := list(app, anchor, limit)
	if err != nil {
		return err
	}
	writePage(w, page, limit, toHookJSON)
	return nil
}

// hookFromPath returns the app slug and the hook the path names.
func (a *api) hookFromPath(r *http.Request) (string, projections.HookView, error) {
	app, err := appSlug(r)
	if err != nil {
		return "", projections.HookView{}, err
	}
	slug, err := pathSlug(r, "webhook-slug", domain.ErrHookNotFound)
	if err != nil {
		return "", projections.HookView{}, err
	}
	h, err := a.Views.Hook(app, slug)
	return app, h, err
}

// hookFromPathIncludingDeleted is hookFromPath, finding removed hooks too.
func (a *api) hookFromPathIncludingDeleted(r *http.Request) (string, projections.HookView, error) {
	app, err := appSlug(r)
	if err != nil {
		return "", projections.HookView{}, err
	}
	slug, err := pathSlug(r, "webhook-slug", domain.ErrHookNotFound)
	if err != nil {
		return "", projections.HookView{}, err
	}
	h, err := a.Views.HookIncludingDeleted(app, slug)
	return app, h, err
}

func (a *api) getHook(w http.ResponseWriter, r *http.Request) error {
	_, h, err := a.hookFromPath(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dataResponse{Data: toHookJSON(h)})
	return nil
}

func (a *api) updateHook(w http.ResponseWriter, r *http.Request) error {
	app, err := appSlug(r)
	if err != nil {
		return err
	}
	slug := mux.Vars(r)["webhook-slug"]
	ev, err := a.configure(w, r, app, slug)
	if err != nil {
		return err
	}
	// The secret's grace and the header values REDACTED keeps depend on
	// the hook as it is: decided from the views, appended only if no other
	// change of the hook came first (else decided again from the hook as
	// that change left it).
	submitted := ev.Headers
	var current projections.HookView
	err = a.changeHook(r.Context(), app, slug, func() (domain.Event, error) {
		var err error
		if _, current, err = a.hookFromPath(r); err != nil {
			return nil, err
		}
		if ev.Headers, err = domain.KeepMaskedHeaders(submitted, current.Headers); err != nil {
			return nil, err
		}
		ev.PreviousSecretValidUntil = domain.RotationDeadline(current.HasSecret, ev.SealedSecret, ev.ConfiguredAt, a.SecretGrace)
		return ev, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dataResponse{Data: writtenHook(ev, &current)})
	return nil
}

// changeHook appends the change decide makes of hook app/slug, on the
// condition that no other change of it lands in between (conditional.go),
// and waits until the views show it.
func (a *api) changeHook(ctx context.Context, app, slug string, decide func() (domain.Event, error)) error {
	var name string
	seqs, err := a.decideAndAppend(ctx, hookEventNames, changesHook(app, slug), func() ([]*message.Message, error) {
		ev, err := decide()
		if err != nil {
			return nil, err
		}
		name = ev.EventName()
		m, err := eventlog.EncodeEvent(a.NewID(), ev)
		return []*message.Message{m}, err
	})
	if err != nil && name != "" {
		return fmt.Errorf("append %s: %w", name, err)
	}
	if err != nil {
		return err
	}
	_ = a.waitForViews(ctx, seqs[0])
	return nil
}

func (a *api) deleteHook(w http.ResponseWriter, r *http.Request) error {
	app, err := appSlug(r)
	if err != nil {
		return err
	}
	slug := mux.Vars(r)["webhook-slug"]
	var h projections.HookView
	err = a.changeHook(r.Context(), app, slug, func() (domain.Event, error) {
		var err error
		if _, h, err = a.hookFromPath(r); err != nil {
			return nil, err
		}
		return domain.HookRemoved{HookSlug: h.Slug, AppSlug: app, RemovedAt: a.Now(), Actor: actorOf(r)}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dataResponse{Data: toHookJSON(h)})
	return nil
}
