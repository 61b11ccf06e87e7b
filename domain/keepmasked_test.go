package domain_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain"
)

func TestKeepMaskedHeadersKeepsStoredCredentialsSentBackAsRedacted(t *testing.T) {
	stored := map[string]string{
		"Authorization": "Bearer real-token",
		"X-Api-Key":     "real-key",
		"X-Team":        "mobile",
		"X-Note":        domain.Masked,
	}
	tests := []struct {
		name      string
		submitted map[string]string
		stored    map[string]string
		want      map[string]string
		wantErr   string // a header name the error must name; "" for none
	}{
		{
			name:      "masked values keep the stored ones, others are stored as sent",
			submitted: map[string]string{"Authorization": domain.Masked, "X-Api-Key": domain.Masked, "X-Team": "web"},
			stored:    stored,
			want:      map[string]string{"Authorization": "Bearer real-token", "X-Api-Key": "real-key", "X-Team": "web"},
		},
		{
			name:      "names compare as header names: any case, result canonical",
			submitted: map[string]string{"authorization": domain.Masked, "X-API-KEY": domain.Masked},
			stored:    stored,
			want:      map[string]string{"Authorization": "Bearer real-token", "X-Api-Key": "real-key"},
		},
		{
			name:      "stored names in another case still match",
			submitted: map[string]string{"X-Api-Key": domain.Masked},
			stored:    map[string]string{"x-api-key": "real-key"},
			want:      map[string]string{"X-Api-Key": "real-key"},
		},
		{
			name:      "a new value replaces the stored one",
			submitted: map[string]string{"Authorization": "Bearer new-token", "X-Api-Key": domain.Masked},
			stored:    stored,
			want:      map[string]string{"Authorization": "Bearer new-token", "X-Api-Key": "real-key"},
		},
		{
			name:      "a header not sent is removed, even a credential",
			submitted: map[string]string{"X-Team": "mobile"},
			stored:    stored,
			want:      map[string]string{"X-Team": "mobile"},
		},
		{
			name:      "a non-credential header whose value is REDACTED is stored as sent",
			submitted: map[string]string{"X-Note": domain.Masked, "X-New-Note": domain.Masked},
			stored:    stored,
			want:      map[string]string{"X-Note": domain.Masked, "X-New-Note": domain.Masked},
		},
		{
			name:      "a credential whose stored value is REDACTED keeps it",
			submitted: map[string]string{"X-Session": domain.Masked},
			stored:    map[string]string{"X-Session": domain.Masked},
			want:      map[string]string{"X-Session": domain.Masked},
		},
		{
			name:      "the word is only a mask when it is the whole value",
			submitted: map[string]string{"X-Api-Key": "REDACTED-but-real", "Cookie": "redacted"},
			stored:    stored,
			want:      map[string]string{"X-Api-Key": "REDACTED-but-real", "Cookie": "redacted"},
		},
		{
			name:      "no headers at all",
			submitted: nil,
			stored:    stored,
			want:      map[string]string{},
		},
		{
			name:      "REDACTED for a credential header the hook does not have",
			submitted: map[string]string{"X-Team": "web", "X-Other-Token": domain.Masked},
			stored:    stored,
			wantErr:   "X-Other-Token",
		},
		{
			name:      "REDACTED on a new hook",
			submitted: map[string]string{"authorization": domain.Masked},
			stored:    nil,
			wantErr:   "Authorization",
		},
		{
			name:      "the same name twice in different case",
			submitted: map[string]string{"X-Team": "a", "x-team": "b"},
			stored:    stored,
			wantErr:   "X-Team",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := maps.Clone(tt.submitted)
			origStored := maps.Clone(tt.stored)
			got, err := domain.KeepMaskedHeaders(tt.submitted, tt.stored)
			if !maps.Equal(tt.submitted, orig) || !maps.Equal(tt.stored, origStored) {
				t.Errorf("KeepMaskedHeaders changed its arguments")
			}
			if tt.wantErr != "" {
				assertFieldError(t, err, "headers")
				if !strings.Contains(err.Error(), `"`+tt.wantErr+`"`) {
					t.Errorf("error %q does not name %q", err, tt.wantErr)
				}
				if strings.Contains(tt.name, "REDACTED") && !strings.Contains(err.Error(), "send the real value") {
					t.Errorf("error %q does not say what to do", err)
				}
				if got != nil {
					t.Errorf("headers %q returned with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("KeepMaskedHeaders: %v", err)
			}
			if got == nil || !maps.Equal(got, tt.want) {
				t.Errorf("KeepMaskedHeaders =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestKeepMaskedHeadersNamesTheSameHeaderEveryTime(t *testing.T) {
	submitted := map[string]string{"X-B-Token": domain.Masked, "X-A-Token": domain.Masked, "X-C-Token": domain.Masked}
	for range 20 {
		_, err := domain.KeepMaskedHeaders(submitted, nil)
		if err == nil || !strings.Contains(err.Error(), `"X-A-Token"`) {
			t.Fatalf("error %v, want one naming \"X-A-Token\" (the first by name)", err)
		}
	}
}
