package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/projections"
)

// TokenViews is what the API reads of the issued tokens; *projections.Live
// and *projections.Views are such.
type TokenViews interface {
	Token(id string) (projections.TokenView, error)
	TokenByHash(sum string) (projections.TokenView, error)
	ListTokens(anchor string, limit int) (projections.Page[projections.TokenView], error)
}

// tokenInput is POST /v0.1/admin/tokens's body.
type tokenInput struct {
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	Apps      []string   `json:"apps"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// tokenJSON is a token as the API shows it; Token, the secret, only in the
// answer that issued it.
type tokenJSON struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Scopes    []string      `json:"scopes"`
	Apps      []string      `json:"apps"`
	CreatedAt time.Time     `json:"created_at"`
	ExpiresAt *time.Time    `json:"expires_at"`
	CreatedBy *domain.Actor `json:"created_by,omitempty"`
	RevokedAt *time.Time    `json:"revoked_at,omitempty"`
	RevokedBy *domain.Actor `json:"revoked_by,omitempty"`
	Token     string        `json:"token,omitempty"`
}

func toTokenJSON(t projections.TokenView) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Scopes: t.Scopes, Apps: t.Apps, CreatedAt: t.IssuedAt.UTC(),
		ExpiresAt: utcPtr(t.ExpiresAt), CreatedBy: t.IssuedBy, RevokedAt: utcPtr(t.RevokedAt), RevokedBy: t.RevokedBy}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// newTokenSecret is 32 random bytes, base64url: 256 bits no guess reaches.
func newTokenSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// issueToken answers POST /v0.1/admin/tokens: the token is logged as its
// SHA-256 only, and shown once, in this answer.
func (a *api) issueToken(w http.ResponseWriter, r *http.Request) error {
	if a.Tokens == nil {
		return errNotFound
	}
	if who(r).actor.TokenID == domain.AnonymousID {
		// A token minted here would outlive the switch to a bootstrap token.
		return &forbiddenError{msg: "this server runs without an API token, and tokens issued now would stay valid once it has one: " +
			"start it with a bootstrap token (HOOKD_API_TOKEN) and issue tokens with that"}
	}
	var in tokenInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	now := a.Now()
	spec, err := domain.ValidateTokenSpec(domain.TokenSpec{Name: in.Name, Scopes: in.Scopes, Apps: in.Apps, ExpiresAt: in.ExpiresAt}, now)
	if err != nil {
		return err
	}
	secret, err := a.NewToken()
	if err != nil {
		return err
	}
	token := TokenPrefix + secret
	ev := domain.TokenIssued{TokenID: a.NewID(), Name: spec.Name, Scopes: spec.Scopes, Apps: spec.Apps,
		TokenSHA256: tokenHash(token), IssuedAt: now, ExpiresAt: utcPtr(spec.ExpiresAt), Actor: actorOf(r)}
	seq, err := a.append(r.Context(), ev.TokenID, ev)
	if err != nil {
		return err
	}
	// The token must open requests once its holder has it.
	_ = a.waitForViews(r.Context(), seq)
	out := toTokenJSON(projections.TokenView{ID: ev.TokenID, Name: ev.Name, Scopes: ev.Scopes, Apps: ev.Apps,
		IssuedAt: ev.IssuedAt, ExpiresAt: ev.ExpiresAt, IssuedBy: ev.Actor})
	out.Token = token
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, dataResponse{Data: out})
	return nil
}

// listTokens answers GET /v0.1/admin/tokens: every issued token, revoked
// ones too, newest first, without their secrets.
func (a *api) listTokens(w http.ResponseWriter, r *http.Request) error {
	if a.Tokens == nil {
		return errNotFound
	}
	anchor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	page, err := a.Tokens.ListTokens(anchor, limit)
	if err != nil {
		return err
	}
	writePage(w, page, limit, toTokenJSON)
	return nil
}

// revokeToken answers DELETE /v0.1/admin/tokens/{token-id}. It answers
// once this server's views hold the revocation, so the token opens
// nothing here from the very next request on. Revoking a revoked token
// changes nothing and answers it as it is.
func (a *api) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if a.Tokens == nil {
		return errNotFound
	}
	id, err := pathSlug(r, "token-id", projections.ErrTokenNotFound)
	if err != nil {
		return err
	}
	t, err := a.Tokens.Token(id)
	if err != nil {
		return err
	}
	if t.RevokedAt == nil {
		ev := domain.TokenRevoked{TokenID: t.ID, RevokedAt: a.Now(), Actor: actorOf(r)}
		seq, err := a.append(r.Context(), a.NewID(), ev)
		if err != nil {
			return err
		}
		if err := a.waitForViews(r.Context(), seq); err != nil {
			return &viewsBehindError{msg: fmt.Sprintf("the revocation of token %s is recorded (log sequence %d), but this server's views are behind "+
				"and may still let the token in: check GET /v0.1/admin/projections (%v)", t.ID, seq, err)}
		}
		if t, err = a.Tokens.Token(id); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, dataResponse{Data: toTokenJSON(t)})
	return nil
}

// viewsBehindError: a write is recorded, but the answer that depends on
// the views seeing it cannot be given (503).
type viewsBehindError struct{ msg string }

func (e *viewsBehindError) Error() string { return e.msg }
