package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/gorilla/mux"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/projections"
)

// Appender appends messages to the log and returns their sequences, at
// once or on the condition that the log's head is last (wrapping
// eventlog.ErrConflict if it is not); *eventlog.Publisher is one.
type Appender interface {
	Append(ctx context.Context, topic string, msgs ...*message.Message) ([]uint64, error)
	AppendAt(ctx context.Context, topic string, last uint64, msgs ...*message.Message) ([]uint64, error)
}

// Views is what the API reads; *projections.Views is one.
type Views interface {
	Hook(appSlug, hookSlug string) (projections.HookView, error)
	ListHooks(appSlug, anchor string, limit int) (projections.Page[projections.HookView], error)
	DeliveryItem(hookSlug, itemSlug string) (projections.DeliveryItemView, error)
	ListDeliveryItems(hookSlug, anchor string, limit int) (projections.Page[projections.DeliveryItemView], error)
	ListDeliveryItemsFiltered(hookSlug string, f projections.ItemFilter, anchor string, limit int) (projections.Page[projections.DeliveryItemView], error)
	HookIncludingDeleted(appSlug, hookSlug string) (projections.HookView, error)
	ListHooksIncludingDeleted(appSlug, anchor string, limit int) (projections.Page[projections.HookView], error)
	ListBuildEvents(appSlug, anchor string, limit int) (projections.Page[projections.BuildEventView], error)
	BuildEvent(appSlug, eventID string) (projections.BuildEventDetail, error)
}

// ViewWaiter says how far the views reflect the log and blocks until they
// reflect a sequence; *projections.Runner is one.
type ViewWaiter interface {
	// Applied is the sequence the views reflect at least.
	Applied() uint64
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
	Log     Appender
	Sealer  Sealer
	Views   Views
	Waiter  ViewWaiter
	Targets URLChecker
	// APIToken is the bootstrap admin token (--api-token); empty: a
	// request without a token is an anonymous admin (loopback only).
	APIToken string
	// Tokens finds issued tokens by their SHA-256 (access.go) and lists
	// them for /v0.1/admin/tokens; *projections.Views is one. Without it
	// only the bootstrap token opens anything.
	Tokens TokenViews
	// NewToken makes the secret part of an issued token; default: 32
	// bytes from crypto/rand.
	NewToken func() (string, error)
	// LogReader serves the log itself: GET /v0.1/log/entries and
	// /v0.1/log/head (logstream.go). Those answer 500 without it.
	LogReader LogReader
	// Admin serves GET /v0.1/admin/projections and POST
	// /v0.1/admin/projections/rebuild (admin.go); 404 without it.
	Admin ProjectionsAdmin
	// Stopping, if set, is closed when the server begins to shut down:
	// log streams that follow the log end then, so that
	// http.Server.Shutdown does not wait for them (RegisterOnShutdown).
	Stopping <-chan struct{}
	// SecretGrace is how long a replaced secret keeps signing. Default 24 h.
	SecretGrace time.Duration
	// ViewWait bounds how long a write waits for the views to show it
	// before answering, so that the client's next read sees its write.
	// The answer itself never depends on the views catching up. Default 10 s.
	ViewWait time.Duration
	// OnPanic, if set, is called with the value of a panic anywhere in the
	// HTTP handling (the API's handlers, those beside it, the middleware),
	// after the panic is logged at ERROR with its stack and the 500 is
	// written (when the answer had begun already, it is cut off instead,
	// after OnPanic returns). A panic is a bug: serve makes it stop the
	// process. An http.ErrAbortHandler panic is not reported: it is the
	// standard way to abort an answer on purpose.
	OnPanic func(v any)
	Logger  *slog.Logger
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
}

// NewRouter returns the HTTP handler with every route in one table; it is
// a *mux.Router, so that tests can walk the routes.
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
	if cfg.ViewWait <= 0 {
		cfg.ViewWait = DefaultViewWait
	}
	if cfg.NewID == nil {
		cfg.NewID = newUUID
	}
	if cfg.NewToken == nil {
		cfg.NewToken = newTokenSecret
	}
	a := &api{Config: cfg}

	// No path cleaning: mux would answer a path with "." or ".." segments
	// or "//" with a 301 to another path, for every method. Such a path
	// matches no route, or is refused by refuseOddPaths: 404 either way.
	r := mux.NewRouter().SkipClean(true)
	r.NotFoundHandler = a.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, a.Logger, errNotFound)
	}))
	r.MethodNotAllowedHandler = a.recoverPanics(a.refuseOddPaths(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, a.Logger, errMethod)
	})))
	// Routes sit on the root router with their full paths: under a
	// PathPrefix subrouter, gorilla/mux v1.8.1 forgets a method mismatch
	// when a later route shares the prefix, and answers 404 instead of 405.
	//
	// Middleware runs on every matched route. recoverPanics comes first, so
	// that a panic anywhere below is caught, and again inside observe, so
	// that a recovered panic is observed as the 500 it answered.
	r.Use(a.recoverPanics)
	if cfg.ObserveRequest != nil {
		r.Use(observe(cfg.ObserveRequest)) // before authenticate, so it sees 401s too
		r.Use(a.recoverPanics)
	}
	r.Use(a.refuseOddPaths)
	r.Use(a.authenticate)
	const hooks = "/v0.1/apps/{app-slug}/outgoing-webhooks"
	const hook = hooks + "/{webhook-slug}"
	const items = hook + "/delivery-items"
	// Each route names the scope it needs (access.go): for the path's app
	// when it has one; admin for the log and /admin; "" for any valid token.
	const (
		read, write, ingest, admin = domain.ScopeAppsRead, domain.ScopeAppsWrite, domain.ScopeIngest, domain.ScopeAdmin
	)
	routes := []struct {
		method, path, scope string
		handle              func(http.ResponseWriter, *http.Request) error
	}{
		{http.MethodPost, hooks, write, a.createHook},
		{http.MethodGet, hooks, read, a.listHooks},
		{http.MethodGet, hook, read, a.getHook},
		{http.MethodPut, hook, write, a.updateHook},
		{http.MethodDelete, hook, write, a.deleteHook},
		{http.MethodPost, "/v0.1/apps/{app-slug}/build-events", ingest, a.receiveBuildEvent},
		{http.MethodGet, "/v0.1/apps/{app-slug}/build-events", read, a.listBuildEvents},
		{http.MethodGet, "/v0.1/apps/{app-slug}/build-events/{event-id}", read, a.getBuildEvent},
		{http.MethodGet, items, read, a.listDeliveryItems},
		{http.MethodGet, items + "/{item-slug}", read, a.getDeliveryItem},
		{http.MethodPost, items + "/{item-slug}/redeliver", write, a.redeliver},
		{http.MethodPost, hook + "/redeliver-failed", write, a.redeliverFailed},
		{http.MethodPost, hook + "/test", write, a.testDelivery},
		{http.MethodGet, "/v0.1/me", "", a.me},
		{http.MethodGet, "/v0.1/log/entries", admin, a.logEntries},
		{http.MethodGet, "/v0.1/log/head", admin, a.logHead},
		{http.MethodGet, "/v0.1/admin/projections", admin, a.getProjections},
		{http.MethodPost, "/v0.1/admin/projections/rebuild", admin, a.rebuildProjections},
		{http.MethodPost, "/v0.1/admin/tokens", admin, a.issueToken},
		{http.MethodGet, "/v0.1/admin/tokens", admin, a.listTokens},
		{http.MethodDelete, "/v0.1/admin/tokens/{token-id}", admin, a.revokeToken},
	}
	for _, rt := range routes {
		r.Handle(rt.path, a.wrap(a.authorize(rt.scope, rt.handle))).Methods(rt.method)
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

// DefaultViewWait is Config.ViewWait's default.
const DefaultViewWait = 10 * time.Second

// refuseOddPaths answers 404 for a path not in its one canonical form: one
// with a "." or ".." segment (percent-encoded or not), an empty segment
// ("//"), or a segment holding an encoded "/". Each resource is served at
// one path only, never redirected to or served from another; the only
// empty segment allowed is a trailing one ("/", "/assets/"), and the
// routes decide about that. Route variables match such segments ("." as a
// slug, "a%2Fb" decoded to "a/b" spanning two segments), so the check
// runs on every matched route, and on a method mismatch, before the 405.
func (a *api) refuseOddPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !canonicalPath(r.URL) {
			writeError(w, r, a.Logger, errNotFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// canonicalPath reports whether u's path is absolute and has no dot,
// empty or slash-holding segments.
func canonicalPath(u *url.URL) bool {
	p := u.EscapedPath()
	if !strings.HasPrefix(p, "/") {
		return false
	}
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		if seg == "" && i == len(segs)-1 {
			continue
		}
		s, err := url.PathUnescape(seg)
		if err != nil || s == "" || s == "." || s == ".." || strings.Contains(s, "/") {
			return false
		}
	}
	return true
}

// recoverPanics answers a panic below it with a 500 (or, when the answer
// has begun already, by aborting it), logs the panic at ERROR with its
// stack and reports it to OnPanic. It wraps every matched route and the
// not-found and method-not-allowed handlers; when two wrap one request, a
// panic the inner one recovered does not reach the outer.
func (a *api) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := &headerWatch{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p) // a deliberate abort: net/http drops the connection quietly
			}
			a.Logger.Error("handler panicked", "method", r.Method, "path", r.URL.Path,
				"panic", p, "stack", string(debug.Stack()))
			if !hw.wrote {
				writeError(w, r, a.Logger, errPanic)
			}
			if a.OnPanic != nil {
				a.OnPanic(p)
			}
			if hw.wrote {
				// Part of an answer is out; cut it off so the client
				// cannot take it for a whole one.
				panic(http.ErrAbortHandler)
			}
		}()
		next.ServeHTTP(hw, r)
	})
}

// headerWatch remembers whether a handler has begun its answer.
type headerWatch struct {
	http.ResponseWriter
	wrote bool
}

func (w *headerWatch) WriteHeader(code int) {
	if code >= 200 {
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWatch) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush sends what is buffered, the header first; streaming handlers may
// assert http.Flusher or use http.ResponseController.
func (w *headerWatch) Flush() {
	w.wrote = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *headerWatch) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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

// wrap turns a handler that returns an error into an http.Handler; a
// panic is recoverPanics' to handle.
func (a *api) wrap(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, a.Logger, err)
		}
	})
}

var errPanic = &panicError{}

type panicError struct{}

func (*panicError) Error() string { return "handler panicked" }

// appSlug returns the path's app slug, validated.
func appSlug(r *http.Request) (string, error) {
	s := mux.Vars(r)["app-slug"]
	if !domain.ValidSlug(s) {
		return "", &domain.FieldError{Field: "app-slug", Message: "must be 1-128 letters, digits, '_', '.' or '-'"}
	}
	return s, nil
}

// pathSlug returns a path slug; a malformed one cannot exist, so it is
// reported as not found with the given sentinel.
func pathSlug(r *http.Request, name string, notFound error) (string, error) {
	s := mux.Vars(r)[name]
	if !domain.ValidSlug(s) {
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
