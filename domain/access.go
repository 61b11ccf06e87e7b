package domain

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Scopes a token may hold. apps:write includes apps:read; admin includes
// everything, for every app.
const (
	ScopeIngest    = "ingest"     // report build events for its apps
	ScopeAppsRead  = "apps:read"  // read hooks, delivery items and build events of its apps
	ScopeAppsWrite = "apps:write" // apps:read, and change hooks, redeliver, test
	ScopeAdmin     = "admin"      // everything: all apps, /v0.1/log, /v0.1/admin
)

// Scopes lists every scope, in the order the API documents them.
func Scopes() []string { return []string{ScopeIngest, ScopeAppsRead, ScopeAppsWrite, ScopeAdmin} }

// AllApps in a token's apps means every app, present and future.
const AllApps = "*"

// Names of the token events.
const (
	NameTokenIssued  = "token.issued.v1"
	NameTokenRevoked = "token.revoked.v1"
)

// TokenIssued: an admin issued an API token. The token itself is never
// logged: TokenSHA256 is the hex SHA-256 of the whole token string, which
// is how a request's token is looked up.
type TokenIssued struct {
	TokenID     string     `json:"token_id"`
	Name        string     `json:"name"`
	Scopes      []string   `json:"scopes"`
	Apps        []string   `json:"apps"`
	TokenSHA256 string     `json:"token_sha256"`
	IssuedAt    time.Time  `json:"issued_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Actor       *Actor     `json:"actor,omitempty"`
}

// TokenRevoked: an admin revoked a token; it opens nothing from here on.
type TokenRevoked struct {
	TokenID   string    `json:"token_id"`
	RevokedAt time.Time `json:"revoked_at"`
	Actor     *Actor    `json:"actor,omitempty"`
}

func (TokenIssued) EventName() string  { return NameTokenIssued }
func (TokenRevoked) EventName() string { return NameTokenRevoked }

// Actor is who caused an event: the token of the API request that made
// it, or hookd itself. Token ids are UUIDs, so the fixed ids below never
// name an issued token.
type Actor struct {
	TokenID   string `json:"token_id"`
	TokenName string `json:"token_name"`
}

// The actors that are not issued tokens.
const (
	// BootstrapID is the --api-token given to serve.
	BootstrapID = "bootstrap"
	// AnonymousID is a request to a server started without any API token
	// (loopback only).
	AnonymousID = "anonymous"
	// ServiceID is hookd itself: matching and attempts.
	ServiceID = "service"
)

// ServiceActor is the actor of the events hookd makes itself.
func ServiceActor() *Actor { return &Actor{TokenID: ServiceID, TokenName: "hookd"} }

// Access is what a token may do: its scopes, for its apps.
type Access struct {
	Scopes []string
	Apps   []string
}

// ErrForbidden marks a valid token without the right to a request.
var ErrForbidden = errors.New("forbidden")

// ForbiddenError says which scope or app a token lacks. It names only
// what the request itself named, never another app.
type ForbiddenError struct {
	Scope string // the scope missing, or ""
	App   string // the app the token may not use, or ""
}

func (e *ForbiddenError) Error() string {
	if e.App != "" {
		return fmt.Sprintf("this token may not use app %q; ask an admin for a token that lists it", e.App)
	}
	return fmt.Sprintf("this token lacks the %q scope this request needs; ask an admin for a token with it", e.Scope)
}

func (e *ForbiddenError) Unwrap() error { return ErrForbidden }

// Allows returns nil if the access may do what scope allows for app (""
// for a request about no app), else a *ForbiddenError. Admin may do
// everything; apps:write implies apps:read; a scope other than admin only
// ever opens the token's own apps, and needs an app.
func (a Access) Allows(scope, app string) error {
	if slices.Contains(a.Scopes, ScopeAdmin) {
		return nil
	}
	has := slices.Contains(a.Scopes, scope) || scope == ScopeAppsRead && slices.Contains(a.Scopes, ScopeAppsWrite)
	if !has {
		return &ForbiddenError{Scope: scope}
	}
	if app == "" {
		// Only admin reaches what belongs to no app (the log, /admin).
		return &ForbiddenError{Scope: ScopeAdmin}
	}
	if !a.AllowsApp(app) {
		return &ForbiddenError{App: app}
	}
	return nil
}

// AllowsApp reports whether the access covers app at all.
func (a Access) AllowsApp(app string) bool {
	return slices.Contains(a.Scopes, ScopeAdmin) || slices.Contains(a.Apps, AllApps) || slices.Contains(a.Apps, app)
}

// TokenSpec is a token an admin asks for.
type TokenSpec struct {
	Name      string
	Scopes    []string
	Apps      []string
	ExpiresAt *time.Time
}

// Bounds of a token request.
const (
	MaxTokenNameBytes = 100
	MaxTokenApps      = 100
)

// slugPattern is what app, hook, item and token slugs look like.
var slugPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidSlug reports whether s can be a slug: 1-128 letters, digits, '_',
// '.' or '-', starting with a letter or digit.
func ValidSlug(s string) bool { return slugPattern.MatchString(s) }

// ValidateTokenSpec checks a token request at now and returns it with its
// scopes and apps sorted and without repeats.
func ValidateTokenSpec(s TokenSpec, now time.Time) (TokenSpec, error) {
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" || len(s.Name) > MaxTokenNameBytes {
		return TokenSpec{}, invalid("name", "is required: up to %d bytes saying who or what uses the token (\"ci\", \"alice\")", MaxTokenNameBytes)
	}
	for _, r := range s.Name {
		// Control and format characters (bidi overrides, zero-width ones)
		// would let one name pass for another in a listing.
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return TokenSpec{}, invalid("name", "must be valid UTF-8 without control or invisible formatting characters")
		}
	}
	if len(s.Scopes) == 0 {
		return TokenSpec{}, invalid("scopes", "is required: one or more of %s", strings.Join(Scopes(), ", "))
	}
	for _, sc := range s.Scopes {
		if !slices.Contains(Scopes(), sc) {
			return TokenSpec{}, invalid("scopes", "%q is not a scope; use %s", sc, strings.Join(Scopes(), ", "))
		}
	}
	if len(s.Apps) == 0 {
		return TokenSpec{}, invalid("apps", "is required: the app slugs the token may use, or [\"*\"] for every app")
	}
	if len(s.Apps) > MaxTokenApps {
		return TokenSpec{}, invalid("apps", "lists %d apps; at most %d, or [\"*\"] for every app", len(s.Apps), MaxTokenApps)
	}
	for _, app := range s.Apps {
		if app != AllApps && !ValidSlug(app) {
			return TokenSpec{}, invalid("apps", "%q is not an app slug (1-128 letters, digits, '_', '.' or '-'), nor \"*\"", app)
		}
	}
	if s.ExpiresAt != nil && !s.ExpiresAt.After(now) {
		return TokenSpec{}, invalid("expires_at", "is in the past; give a time to come, or leave it out for a token that does not expire")
	}
	s.Scopes = sortedUnique(s.Scopes)
	s.Apps = sortedUnique(s.Apps)
	if slices.Contains(s.Apps, AllApps) {
		s.Apps = []string{AllApps}
	}
	if slices.Contains(s.Scopes, ScopeAdmin) && !slices.Equal(s.Apps, []string{AllApps}) {
		return TokenSpec{}, invalid("apps", "an admin token opens every app: give [\"*\"], or leave admin out to open only these apps")
	}
	return s, nil
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
