package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/projections"
)

// Errors a handler returns besides the domain's.
var (
	errUnauthorized = errors.New("missing or wrong API token: send it in the Authorization header")
	errTooLarge     = errors.New("request body is larger than 1 MiB")
	errNotFound     = errors.New("not found")
	errMethod       = errors.New("method not allowed")
	// errBusy: a conditional write (conditional.go) could not get in.
	errBusy = errors.New("this hook is being changed by other requests at the same time, or the log is too busy to change it now: nothing was recorded; try again")
)

// writeError is the one place errors become status codes.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	status := http.StatusInternalServerError
	msg := "internal error; the server log has the details"
	switch {
	case errors.Is(err, domain.ErrInvalid):
		status, msg = http.StatusBadRequest, err.Error()
		var fe *domain.FieldError
		if errors.As(err, &fe) {
			msg = fe.Error()
		}
	case errors.Is(err, errUnauthorized):
		status, msg = http.StatusUnauthorized, err.Error()
		challenge := `Bearer realm="hookd"`
		var ae *authError
		if errors.As(err, &ae) && ae.invalid {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	case errors.Is(err, domain.ErrForbidden):
		status, msg = http.StatusForbidden, err.Error()
		var fe *domain.ForbiddenError
		if errors.As(err, &fe) {
			msg = fe.Error()
		}
	case errors.As(err, new(*viewsBehindError)):
		status, msg = http.StatusServiceUnavailable, err.Error()
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, projections.ErrTokenNotFound):
		status, msg = http.StatusNotFound, projections.ErrTokenNotFound.Error()
	case errors.Is(err, domain.ErrHookNotFound), errors.Is(err, domain.ErrDeliveryNotFound), errors.Is(err, domain.ErrBuildEventNotFound):
		status, msg = http.StatusNotFound, rootMessage(err)
	case errors.Is(err, errNotFound):
		status, msg = http.StatusNotFound, err.Error()
	case errors.Is(err, projections.ErrRebuildRunning):
		status, msg = http.StatusConflict, err.Error()+": wait for it (GET /v0.1/admin/projections)"
	case errors.Is(err, errMethod):
		status, msg = http.StatusMethodNotAllowed, err.Error()
	case errors.Is(err, eventlog.ErrTooLarge):
		status, msg = http.StatusRequestEntityTooLarge, "nothing of this request was recorded: it makes an entry larger than the event log accepts: "+afterSentinel(err, eventlog.ErrTooLarge)
	case errors.Is(err, errBusy):
		status, msg = http.StatusServiceUnavailable, err.Error()
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, errTooLarge):
		status, msg = http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, eventlog.ErrHeld):
		// Refused before anything was written: the reason (the disk is
		// full) is the whole story.
		status, msg = http.StatusServiceUnavailable, "nothing of this request was recorded: "+afterSentinel(err, eventlog.ErrHeld)
		w.Header().Set("Retry-After", "30")
	case errors.Is(err, eventlog.ErrDamaged):
		status, msg = http.StatusServiceUnavailable, "nothing of this request was recorded: the event log takes no writes until an operator acts: "+afterSentinel(err, eventlog.ErrDamaged)
	case errors.Is(err, eventlog.ErrUnavailable), errors.Is(err, eventlog.ErrClosed):
		status, msg = http.StatusServiceUnavailable, "the event log cannot take writes right now; this request was most likely not recorded (after a failed disk sync it may have been): check, then try again later"
	}
	// A held log says so once, where it is found (disk guard, verifier),
	// not once per refused request.
	if status >= 500 && !errors.Is(err, eventlog.ErrHeld) && !errors.Is(err, eventlog.ErrDamaged) {
		logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeJSON(w, status, map[string]string{"message": msg})
}

// afterSentinel is err's message from just after sentinel's on, without
// the call sites' context before it: the reason a wrapped refusal gives.
func afterSentinel(err, sentinel error) string {
	m := err.Error()
	if i := strings.Index(m, sentinel.Error()+": "); i >= 0 {
		return m[i+len(sentinel.Error())+2:]
	}
	return m
}

// rootMessage is the innermost sentinel's message, without call-site context.
func rootMessage(err error) string {
	for _, s := range []error{domain.ErrHookNotFound, domain.ErrDeliveryNotFound, domain.ErrBuildEventNotFound} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return err.Error()
}
