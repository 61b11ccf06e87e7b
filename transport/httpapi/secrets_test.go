package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/sealer"
	"github.com/hookd/hookd/transport/httpapi"
)

// hookConfigurations returns the HookConfigured events in the log, in order.
func (s *stack) hookConfigurations() []domain.HookConfigured {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var out []domain.HookConfigured
	r := eventlog.NewReader(s.store, eventlog.Topic, 1)
	for r.Next(ctx) {
		ev, err := eventlog.DecodeEntry(r.Entry())
		if err != nil {
			s.t.Fatalf("decode entry %d: %v", r.Entry().Seq, err)
		}
		if c, ok := ev.(domain.HookConfigured); ok {
			out = append(out, c)
		}
	}
	if err := r.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// openSealed opens a sealed secret with the stack's (all-zero) key.
func openSealed(t *testing.T, sealed, hookSlug string) string {
	t.Helper()
	sl, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sl.Open(sealed, hookSlug)
	if err != nil {
		t.Fatalf("open sealed secret of %s: %v", hookSlug, err)
	}
	return plain
}

func TestHookSecretsAreSealedAndAPutWithANewOneStartsARotation(t *testing.T) {
	now := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		grace time.Duration
		want  time.Duration
	}{
		{"configured grace", 2 * time.Hour, 2 * time.Hour},
		{"default grace", 0, domain.DefaultSecretGrace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			api := s.serve(func(c *httpapi.Config) {
				c.SecretGrace = tt.grace
				c.Now = func() time.Time { return now }
			})
			for _, secret := range []string{"secret-a", "secret-b", "secret-c"} {
				s.forbid(secret)
			}
			hook := func(secret *string) map[string]any {
				b := map[string]any{"url": "https://example.com/h", "events": []string{"all"}}
				if secret != nil {
					b["secret"] = *secret
				}
				return b
			}
			str := func(s string) *string { return &s }
			h := api.createHook("app-1", hook(str("secret-a")))
			put := func(secret *string) {
				t.Helper()
				api.do(http.MethodPut, hookPath("app-1", h.Slug), hook(secret)).expect(t, http.StatusOK)
			}
			put(str("secret-b")) // rotation
			put(nil)             // secret left alone
			put(str(""))         // secret removed
			put(str("secret-c")) // a secret where there was none

			type want struct {
				secret *string // nil: no SealedSecret; else the clear secret
				until  bool
			}
			wants := []want{
				{str("secret-a"), false},
				{str("secret-b"), true},
				{nil, false},
				{str(""), false},
				{str("secret-c"), false},
			}
			got := s.hookConfigurations()
			if len(got) != len(wants) {
				t.Fatalf("%d HookConfigured in the log, want %d", len(got), len(wants))
			}
			for i, w := range wants {
				ev := got[i]
				switch {
				case w.secret == nil:
					if ev.SealedSecret != nil {
						t.Errorf("configuration %d: sealed secret %q, want none (unchanged)", i, *ev.SealedSecret)
					}
				case ev.SealedSecret == nil:
					t.Errorf("configuration %d: no sealed secret, want %q sealed", i, *w.secret)
				case *w.secret == "":
					if *ev.SealedSecret != "" {
						t.Errorf("configuration %d: sealed secret %q, want \"\" (removed)", i, *ev.SealedSecret)
					}
				default:
					if strings.Contains(*ev.SealedSecret, *w.secret) {
						t.Errorf("configuration %d: the log holds the secret in clear: %q", i, *ev.SealedSecret)
					}
					if plain := openSealed(t, *ev.SealedSecret, h.Slug); plain != *w.secret {
						t.Errorf("configuration %d: sealed secret opens to %q, want %q", i, plain, *w.secret)
					}
				}
				switch {
				case w.until && (ev.PreviousSecretValidUntil == nil || !ev.PreviousSecretValidUntil.Equal(now.Add(tt.want))):
					t.Errorf("configuration %d: previous secret valid until %v, want %v", i, ev.PreviousSecretValidUntil, now.Add(tt.want))
				case !w.until && ev.PreviousSecretValidUntil != nil:
					t.Errorf("configuration %d: previous secret valid until %v, want no rotation", i, *ev.PreviousSecretValidUntil)
				}
			}
		})
	}
}

func TestInvalidSecretIsRefusedNamingTheField(t *testing.T) {
	s := newStack(t)
	for _, secret := range []string{
		"whsec_" + strings.Repeat("A", 20) + "!!", // not base64
		"whsec_AAAAAAAAAAAAAAAAAAAAAAAA",          // 18 bytes
		strings.Repeat("k", domain.MaxSecretLength+1),
	} {
		s.forbid(secret)
		s.api.do(http.MethodPost, hooksPath("app-1"), map[string]any{
			"url": "https://example.com/h", "events": []string{"all"}, "secret": secret,
		}).expectError(t, http.StatusBadRequest, "secret")
	}
	if n := len(s.hookConfigurations()); n != 0 {
		t.Errorf("%d hooks configured by refused requests", n)
	}
}
