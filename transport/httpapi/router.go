package httpapi

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/gorilla/mux"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/projections"
)

// Appender appends messages to the log and returns their sequences;
// *eventlog.Publisher is one.
type Appender interface {
	Append(ctx context.Context, topic string, msgs ...*message.Message) ([]uint64, error)
}

// Views is what the API reads; *projections.Views is one.
type Views interface {
	Hook(appSlug, hookSlug string) (projections.HookView, error)
	ListHooks(appSlug, anchor string, limit int) (projections.Page[projections.HookView], error)
	DeliveryItem(hookSlug, itemSlug string) (projections.DeliveryItemView, error)
	ListDeliveryItems(hookSlug, anchor string, limit int) (projections.Page[projections.DeliveryItemView], error)
}

// ViewWaiter blocks until the views reflect a sequence; *projections.Runner is one.
type ViewWaiter interface {
	WaitFor(ctx context.Context, seq uint64) error
}

// URLChecker refuses hook URLs hookd will not deliver to; webhook.TargetGuard is one.
type URLChecker interface {
	CheckURL(ctx context.Context, rawURL string) error
}

// Sealer encrypts hook secrets before they are appended; *sealer.Sealer is one.
type Sealer interface {
	Seal(secret, context string) (string, error)
}

// Config is what the router needs.
type Config struct {
	Log      Appender
	Sealer   Sealer
	Views    Views
	Waiter   ViewWaiter
	Targets  URLChecker
	APIToken string // empty: no authentication
	// SecretGrace is how long a replaced secret keeps signing. Default 24 h.
	SecretGrace time.Duration
	Logger      *slog.Logger
	// Optional handlers served beside the API, without the API token:
	// UI at "/" and "/assets/", Metrics at "/metrics", and Ready, which
	// /readyz calls (nil error: ready).
	UI      http.Handler
	Metrics http.Handler
	Ready   func(ctx context.Context) error
	// ObserveRequest, if set, is called after each request that matched a
	// route, with the route's path template (never the raw path), the
	// method, the status answered and the time taken. For metrics.
	ObserveRequest func(route, method string, status int, d time.Duration)
	// Now and NewID make times and ids at the edge; defaults: UTC clock, UUIDv4.
	Now   func() time.Time
	NewID func() string
}

type api struct {
	Config
	// hookWrites serialises hook changes: each checks the views, appends,
	// and waits for the views to show it before the next one checks.
	hookWrites sync.Mutex
	// bulkRedeliveries serialises redeliver-failed requests the same way.
	bulkRedeliveries sync.Mutex
}

// NewRouter returns the HTTP handler with every route in one table.
func NewRouter(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().UTC() }
	}
	if cfg.SecretGrace <= 0 {
		cfg.SecretGrace = domain.DefaultSecretGrace
	}
	if cfg.NewID == nil {
		cfg.NewID = newUUID
	}
	a := &api{Config: cfg}

	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, a.Logger, errNotFound)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, a.Logger, errMethod)
	})
	// Routes sit on the root router with their full paths: under a
	// PathPrefix subrouter, gorilla/mux v1.8.1 forgets a method mismatch
	// when a later route shares the prefix, and answers 404 instead of 405.
	if cfg.ObserveRequest != nil {
		r.Use(observe(cfg.ObserveRequest)) // first, so it sees 401s too
	}
	r.Use(a.authenticate)
	const hooks = "/v0.1/apps/{app-slug}/outgoing-webhooks"
	const hook = hooks + "/{webhook-slug}"
	const items = hook + "/delivery-items"
	routes := []struct {
		method, path string
		handle       func(http.ResponseWriter, *http.Request) error
	}{
		{http.MethodPost, hooks, a.createHook},
		{http.MethodGet, hooks, a.listHooks},
		{http.MethodGet, hook, a.getHook},
		{http.MethodPut, hook, a.updateHook},
		{http.MethodDelete, hook, a.deleteHook},
		{http.MethodPost, "/v0.1/apps/{app-slug}/build-events", a.receiveBuildEvent},
		{http.MethodGet, items, a.listDeliveryItems},
		{http.MethodGet, items + "/{item-slug}", a.getDeliveryItem},
		{http.MethodPost, items + "/{item-slug}/redeliver", a.redeliver},
		{http.MethodPost, hook + "/redeliver-failed", a.redeliverFailed},
	}
	for _, rt := range routes {
		r.Handle(rt.path, a.wrap(rt.handle)).Methods(rt.method)
	}

	// Beside the API: the contract, health, metrics and the web page.
	r.Handle("/openapi.json", http.HandlerFunc(serveOpenAPI)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", a.wrap(a.ready)).Methods(http.MethodGet, http.MethodHead)
	if cfg.Metrics != nil {
		r.Handle("/metrics", cfg.Metrics).Methods(http.MethodGet)
	}
	if cfg.UI != nil {
		r.Handle("/", cfg.UI).Methods(http.MethodGet, http.MethodHead)
		r.PathPrefix("/assets/").Handler(cfg.UI).Methods(http.MethodGet, http.MethodHead)
	}
	return r
}

// ready answers 200 when the service can take traffic, else 503.
func (a *api) ready(w http.ResponseWriter, r *http.Request) error {
	if a.Ready != nil {
		if err := a.Ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "message": err.Error()})
			return nil
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// wrap turns a handler that returns an error into an http.Handler.
func (a *api) wrap(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				a.Logger.Error("handler panicked", "path", r.URL.Path, "panic", p)
				writeError(w, r, a.Logger, errPanic)
			}
		}()
		if err := h(w, r); err != nil {
			writeError(w, r, a.Logger, err)
		}
	})
}

var errPanic = &panicError{}

type panicError struct{}

func (*panicError) Error() string { return "handler panicked" }

// authenticate accepts "Authorization: <token>", "Bearer <token>" or "token <token>".
func (a *api) authenticate(next http.Handler) http.Handler {
	if a.APIToken == "" {
		return next
	}
	want := []byte(a.APIToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v0.1/") {
			// Health, metrics, the contract and the page's files are public;
			// the page asks for the token and sends it with its API calls.
			next.ServeHTTP(w, r)
			return
		}
		got := strings.TrimSpace(r.Header.Get("Authorization"))
		for _, scheme := range []string{"Bearer ", "bearer ", "token ", "Token "} {
			if strings.HasPrefix(got, scheme) {
				got = strings.TrimSpace(got[len(scheme):])
				break
			}
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			writeError(w, r, a.Logger, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

var slugPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// appSlug returns the path's app slug, validated.
func appSlug(r *http.Request) (string, error) {
	s := mux.Vars(r)["app-slug"]
	if !slugPattern.MatchString(s) {
		return "", &domain.FieldError{Field: "app-slug", Message: "must be 1-128 letters, digits, '_', '.' or '-'"}
	}
	return s, nil
}

// pathSlug returns a path slug; a malformed one cannot exist, so it is
// reported as not found with the given sentinel.
func pathSlug(r *http.Request, name string, notFound error) (string, error) {
	s := mux.Vars(r)[name]
	if !slugPattern.MatchString(s) {
		return "", notFound
	}
	return s, nil
}

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// pageParams reads ?limit and ?next.
func pageParams(r *http.Request) (anchor string, limit int, err error) {
	q := r.URL.Query()
	limit = DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return "", 0, &domain.FieldError{Field: "limit", Message: "must be a whole number from 1 to 200"}
		}
		limit = min(n, MaxLimit)
	}
	anchor = q.Get("next")
	if anchor != "" {
		if _, err := projections.DecodeAnchor(anchor); err != nil {
			return "", 0, err
		}
	}
	return anchor, limit, nil
}
