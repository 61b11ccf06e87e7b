package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/projections"
)

// TokenPrefix starts every token hookd issues, so that secret scanners
// can recognise one.
const TokenPrefix = "hkd_"

// principal is who makes a request and what it may do.
type principal struct {
	actor     domain.Actor
	access    domain.Access
	expiresAt *time.Time
}

type principalKey struct{}

// who is the request's principal; authenticate put it there.
func who(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

// actorOf is the actor the request's events record.
func actorOf(r *http.Request) *domain.Actor {
	a := who(r).actor
	return &a
}

// Errors of authentication: each a 401 with WWW-Authenticate.
var (
	errNoToken      = &authError{msg: "this request needs an API token: send it in the Authorization header (Authorization: Bearer <token>)"}
	errUnknownToken = &authError{msg: "unknown API token: check it, or ask an admin for one", invalid: true}
	errRevokedToken = &authError{msg: "this API token was revoked: ask an admin for a new one", invalid: true}
	errTwoTokens    = &authError{msg: "send one Authorization header, not several", invalid: true}
)

// forbiddenError is a 403 whose message is the whole story.
type forbiddenError struct{ msg string }

func (e *forbiddenError) Error() string { return e.msg }
func (e *forbiddenError) Unwrap() error { return domain.ErrForbidden }

type authError struct {
	msg     string
	invalid bool // a token was sent, and it opens nothing
}

func (e *authError) Error() string { return e.msg }
func (e *authError) Unwrap() error { return errUnauthorized }

func expiredToken(at time.Time) error {
	return &authError{msg: fmt.Sprintf("this API token expired at %s: ask an admin for a new one", at.UTC().Format(time.RFC3339)), invalid: true}
}

// tokenFrom reads "Authorization: <token>", "Bearer <token>" or "token
// <token>", the scheme in any case (RFC 9110, section 11.1).
func tokenFrom(r *http.Request) string {
	got := strings.TrimSpace(r.Header.Get("Authorization"))
	if i := strings.IndexAny(got, " \t"); i > 0 {
		if scheme := got[:i]; strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "token") {
			got = strings.TrimSpace(got[i:])
		}
	}
	return got
}

// authenticate finds who makes each /v0.1 request: the bootstrap token
// (--api-token, compared in constant time), an issued token (looked up by
// its SHA-256 in the views: valid unless revoked or expired), or, on a
// server started without an API token and a request without one, an
// anonymous admin. Anything else is a 401.
func (a *api) authenticate(next http.Handler) http.Handler {
	want := []byte(a.APIToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v0.1/") {
			// Health, metrics, the contract and the page's files are public;
			// the page asks for the token and sends it with its API calls.
			next.ServeHTTP(w, r)
			return
		}
		p, err := a.principalOf(r, want)
		if err != nil {
			writeError(w, r, a.Logger, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func (a *api) principalOf(r *http.Request, bootstrap []byte) (principal, error) {
	admin := domain.Access{Scopes: []string{domain.ScopeAdmin}, Apps: []string{domain.AllApps}}
	if len(r.Header.Values("Authorization")) > 1 {
		// A proxy reading the other one would disagree about who this is.
		return principal{}, errTwoTokens
	}
	got := tokenFrom(r)
	if got == "" {
		if len(bootstrap) == 0 {
			if !loopbackHost(r.Host) {
				// Without a token the server listens on loopback only; a
				// request naming another host came through DNS rebinding or
				// a proxy, and opens nothing.
				return principal{}, &forbiddenError{msg: fmt.Sprintf("this server has no API token, so it answers only requests addressed to a loopback host "+
					"(localhost, 127.0.0.1, [::1]), not %q: start it with an API token (HOOKD_API_TOKEN) to serve other names", r.Host)}
			}
			return principal{actor: domain.Actor{TokenID: domain.AnonymousID, TokenName: domain.AnonymousID}, access: admin}, nil
		}
		return principal{}, errNoToken
	}
	if len(bootstrap) > 0 && subtle.ConstantTimeCompare([]byte(got), bootstrap) == 1 {
		return principal{actor: domain.Actor{TokenID: domain.BootstrapID, TokenName: domain.BootstrapID}, access: admin}, nil
	}
	if !strings.HasPrefix(got, TokenPrefix) || a.Tokens == nil {
		return principal{}, errUnknownToken
	}
	sum := tokenHash(got)
	t, err := a.Tokens.TokenByHash(sum)
	if errors.Is(err, projections.ErrTokenNotFound) {
		return principal{}, errUnknownToken
	}
	if err != nil {
		return principal{}, err
	}
	// Found by its hash already; compared again in constant time so the
	// decision never rests on a lookup's shortcut.
	if subtle.ConstantTimeCompare([]byte(t.TokenSHA256), []byte(sum)) != 1 {
		return principal{}, errUnknownToken
	}
	if t.RevokedAt != nil {
		return principal{}, errRevokedToken
	}
	if t.ExpiresAt != nil && !a.Now().Before(*t.ExpiresAt) {
		return principal{}, expiredToken(*t.ExpiresAt)
	}
	return principal{actor: domain.Actor{TokenID: t.ID, TokenName: t.Name}, access: t.Access(), expiresAt: t.ExpiresAt}, nil
}

// loopbackHost reports whether a Host header, with or without a port,
// names this machine's loopback (domain.IsLoopbackHost).
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return domain.IsLoopbackHost(host)
}

// tokenHash is the hex SHA-256 of a token, the only form hookd keeps.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// authorize runs h only if the request's principal holds scope for the
// path's app (routes without {app-slug} need admin, unless scope is "":
// any valid token). It is the one place rights are checked: every route
// in the table passes through it.
func (a *api) authorize(scope string, h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if scope == "" {
			return h(w, r)
		}
		app := ""
		if _, ok := mux.Vars(r)["app-slug"]; ok {
			var err error
			if app, err = appSlug(r); err != nil {
				return err
			}
		}
		if err := who(r).access.Allows(scope, app); err != nil {
			return err
		}
		return h(w, r)
	}
}

// meJSON is GET /v0.1/me: the caller's token.
type meJSON struct {
	TokenID   string     `json:"token_id"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	Apps      []string   `json:"apps"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func (a *api) me(w http.ResponseWriter, r *http.Request) error {
	p := who(r)
	writeJSON(w, http.StatusOK, dataResponse{Data: meJSON{TokenID: p.actor.TokenID, Name: p.actor.TokenName,
		Scopes: p.access.Scopes, Apps: p.access.Apps, ExpiresAt: p.expiresAt}})
	return nil
}
