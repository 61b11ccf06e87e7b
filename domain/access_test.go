package domain

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestAccessAllowsEachScopeOnlyForItsApps(t *testing.T) {
	for _, tc := range []struct {
		scopes, apps []string
		need, app    string
		// want "" for allowed, else the missing scope or app.
		wantScope, wantApp string
	}{
		{[]string{ScopeIngest}, []string{"a"}, ScopeIngest, "a", "", ""},
		{[]string{ScopeIngest}, []string{"a"}, ScopeIngest, "b", "", "b"},
		{[]string{ScopeIngest}, []string{"a"}, ScopeAppsRead, "a", ScopeAppsRead, ""},
		{[]string{ScopeAppsRead}, []string{"a"}, ScopeAppsRead, "a", "", ""},
		{[]string{ScopeAppsRead}, []string{"a"}, ScopeAppsWrite, "a", ScopeAppsWrite, ""},
		{[]string{ScopeAppsRead}, []string{"a"}, ScopeIngest, "a", ScopeIngest, ""},
		{[]string{ScopeAppsWrite}, []string{"a"}, ScopeAppsRead, "a", "", ""}, // write includes read
		{[]string{ScopeAppsWrite}, []string{"a"}, ScopeIngest, "a", ScopeIngest, ""},
		{[]string{ScopeAppsWrite}, []string{AllApps}, ScopeAppsWrite, "anything", "", ""},
		{[]string{ScopeAppsWrite}, []string{AllApps}, ScopeAdmin, "", ScopeAdmin, ""},
		{[]string{ScopeAppsWrite}, []string{AllApps}, ScopeAppsRead, "", ScopeAdmin, ""}, // no app: admin only
		{[]string{ScopeAdmin}, []string{"a"}, ScopeAppsWrite, "b", "", ""},               // admin: every app
		{[]string{ScopeAdmin}, []string{"a"}, ScopeAdmin, "", "", ""},
		{[]string{ScopeAppsRead, ScopeIngest}, []string{"a", "b"}, ScopeIngest, "b", "", ""},
		{nil, nil, ScopeAppsRead, "a", ScopeAppsRead, ""},
	} {
		err := Access{Scopes: tc.scopes, Apps: tc.apps}.Allows(tc.need, tc.app)
		if tc.wantScope == "" && tc.wantApp == "" {
			if err != nil {
				t.Errorf("%v for %v, %s on %q: %v, want allowed", tc.scopes, tc.apps, tc.need, tc.app, err)
			}
			continue
		}
		var fe *ForbiddenError
		if !errors.As(err, &fe) || !errors.Is(err, ErrForbidden) || fe.Scope != tc.wantScope || fe.App != tc.wantApp {
			t.Errorf("%v for %v, %s on %q: %v, want forbidden (scope %q, app %q)", tc.scopes, tc.apps, tc.need, tc.app, err, tc.wantScope, tc.wantApp)
		}
	}
}

func TestValidateTokenSpec(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Hour), now.Add(-time.Second)
	for _, tc := range []struct {
		in         TokenSpec
		field      string // "" for valid
		scopes, ap []string
	}{
		{TokenSpec{Name: " ci ", Scopes: []string{ScopeIngest, ScopeAppsRead, ScopeIngest}, Apps: []string{"b", "a", "b"}}, "", []string{ScopeAppsRead, ScopeIngest}, []string{"a", "b"}},
		{TokenSpec{Name: "all", Scopes: []string{ScopeAdmin}, Apps: []string{"a", AllApps}, ExpiresAt: &later}, "", []string{ScopeAdmin}, []string{AllApps}},
		{TokenSpec{Name: "", Scopes: []string{ScopeIngest}, Apps: []string{"a"}}, "name", nil, nil},
		{TokenSpec{Name: "a\nb", Scopes: []string{ScopeIngest}, Apps: []string{"a"}}, "name", nil, nil},
		{TokenSpec{Name: string(make([]byte, MaxTokenNameBytes+1)), Scopes: []string{ScopeIngest}, Apps: []string{"a"}}, "name", nil, nil},
		{TokenSpec{Name: "x", Apps: []string{"a"}}, "scopes", nil, nil},
		{TokenSpec{Name: "x", Scopes: []string{"apps:delete"}, Apps: []string{"a"}}, "scopes", nil, nil},
		{TokenSpec{Name: "x", Scopes: []string{ScopeIngest}}, "apps", nil, nil},
		{TokenSpec{Name: "x", Scopes: []string{ScopeIngest}, Apps: []string{"A B"}}, "apps", nil, nil},
		{TokenSpec{Name: "x", Scopes: []string{ScopeIngest}, Apps: make([]string, MaxTokenApps+1)}, "apps", nil, nil},
		{TokenSpec{Name: "x", Scopes: []string{ScopeIngest}, Apps: []string{"a"}, ExpiresAt: &earlier}, "expires_at", nil, nil},
		{TokenSpec{Name: "x", Scopes: []string{ScopeIngest}, Apps: []string{"a"}, ExpiresAt: &now}, "expires_at", nil, nil},
		{TokenSpec{Name: "x", Scopes: []string{ScopeAdmin}, Apps: []string{"a"}}, "apps", nil, nil},
		{TokenSpec{Name: "ci\u202egnp.exe", Scopes: []string{ScopeIngest}, Apps: []string{"a"}}, "name", nil, nil},
		{TokenSpec{Name: "c\u200bi", Scopes: []string{ScopeIngest}, Apps: []string{"a"}}, "name", nil, nil},
		{TokenSpec{Name: "c\u009bi", Scopes: []string{ScopeIngest}, Apps: []string{"a"}}, "name", nil, nil},
		{TokenSpec{Name: "c\xffi", Scopes: []string{ScopeIngest}, Apps: []string{"a"}}, "name", nil, nil},
	} {
		got, err := ValidateTokenSpec(tc.in, now)
		if tc.field == "" {
			if err != nil || !slices.Equal(got.Scopes, tc.scopes) || !slices.Equal(got.Apps, tc.ap) || got.Name != "ci" && got.Name != "all" {
				t.Errorf("%+v: %+v, %v; want scopes %v apps %v", tc.in, got, err, tc.scopes, tc.ap)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want a FieldError on %s", tc.in, err, tc.field)
		}
	}
}
