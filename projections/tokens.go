package projections

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/domain"
)

// The tokens' views: the set of valid API tokens is a projection of
// token.issued and token.revoked, rebuilt with the rest.
const (
	keyToken      = 't' // t "" 0 <^seq> → TokenView, newest first
	keyTokenIndex = 'T' // T <token id> → ^seq
	keyTokenHash  = 'k' // k <sha256 hex> → ^seq
	keyTokenCount = 'u' // u → number of tokens issued
)

// ErrTokenNotFound: no token was issued with that id or hash.
var ErrTokenNotFound = errors.New("token not found")

// TokenView is an issued token, without the token itself.
type TokenView struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Scopes      []string      `json:"scopes"`
	Apps        []string      `json:"apps"`
	TokenSHA256 string        `json:"token_sha256"`
	IssuedAt    time.Time     `json:"issued_at"`
	ExpiresAt   *time.Time    `json:"expires_at,omitempty"`
	IssuedBy    *domain.Actor `json:"issued_by,omitempty"`
	RevokedAt   *time.Time    `json:"revoked_at,omitempty"`
	RevokedBy   *domain.Actor `json:"revoked_by,omitempty"`
	Seq         uint64        `json:"seq"`
}

// Access is what the token may do.
func (t TokenView) Access() domain.Access { return domain.Access{Scopes: t.Scopes, Apps: t.Apps} }

func (w *writer) tokenIssued(seq uint64, ev domain.TokenIssued) error {
	if existing, err := getU64(w.txn, key(keyTokenIndex, ev.TokenID)); err != nil {
		return err
	} else if existing != 0 {
		return nil // an id issued twice keeps its first token
	}
	if existing, err := getU64(w.txn, key(keyTokenHash, ev.TokenSHA256)); err != nil {
		return err
	} else if existing != 0 {
		return nil // a hash already taken would make one token two
	}
	t := TokenView{ID: ev.TokenID, Name: ev.Name, Scopes: ev.Scopes, Apps: ev.Apps, TokenSHA256: ev.TokenSHA256,
		IssuedAt: ev.IssuedAt, ExpiresAt: ev.ExpiresAt, IssuedBy: ev.Actor, Seq: seq}
	inv := ^seq
	if err := w.setJSON(seqKey(keyToken, "", inv), t); err != nil {
		return err
	}
	if err := w.set(key(keyTokenIndex, ev.TokenID), putU64(inv)); err != nil {
		return err
	}
	if err := w.set(key(keyTokenHash, ev.TokenSHA256), putU64(inv)); err != nil {
		return err
	}
	return w.add([]byte{keyTokenCount}, 1)
}

func (w *writer) tokenRevoked(ev domain.TokenRevoked) error {
	inv, err := getU64(w.txn, key(keyTokenIndex, ev.TokenID))
	if err != nil || inv == 0 {
		return err
	}
	k := seqKey(keyToken, "", inv)
	var t TokenView
	if err := getJSON(w.txn, k, &t); err != nil {
		return err
	}
	if t.RevokedAt != nil {
		return nil // revoked already: the first revocation stands
	}
	at := ev.RevokedAt
	t.RevokedAt, t.RevokedBy = &at, ev.Actor
	return w.setJSON(k, t)
}

// Token returns the token with that id.
func (v *Views) Token(id string) (TokenView, error) {
	return v.tokenBy(key(keyTokenIndex, id))
}

// TokenByHash returns the token whose SHA-256 (hex) is sum.
func (v *Views) TokenByHash(sum string) (TokenView, error) {
	return v.tokenBy(key(keyTokenHash, sum))
}

func (v *Views) tokenBy(index []byte) (TokenView, error) {
	var t TokenView
	err := v.db.View(func(txn *badger.Txn) error {
		inv, err := getU64(txn, index)
		if err != nil {
			return err
		}
		if inv == 0 {
			return ErrTokenNotFound
		}
		return getJSON(txn, seqKey(keyToken, "", inv), &t)
	})
	if errors.Is(err, ErrTokenNotFound) {
		return TokenView{}, err
	}
	if err := v.noteRead(err); err != nil {
		return TokenView{}, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// ListTokens returns a page of the issued tokens, revoked ones too,
// newest first.
func (v *Views) ListTokens(anchor string, limit int) (Page[TokenView], error) {
	return listPage[TokenView](v, keyToken, keyTokenCount, "", anchor, limit)
}
