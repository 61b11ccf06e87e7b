package domain_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain"
)

// validSpec returns a spec that passes validation; tests change one thing.
func validSpec() domain.HookSpec {
	return domain.HookSpec{
		URL:    "https://example.com/hook",
		Events: []string{domain.SelectAll},
	}
}

// assertFieldError fails unless err wraps domain.ErrInvalid and is a
// *domain.FieldError naming field.
func assertFieldError(t *testing.T, err error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want an error naming %q", field)
	}
	if !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("error %q does not wrap domain.ErrInvalid", err)
	}
	var fe *domain.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %q (%T) is not a *domain.FieldError", err, err)
	}
	if fe.Field != field {
		t.Errorf("FieldError.Field = %q, want %q (error %q)", fe.Field, field, err)
	}
	if fe.Message == "" {
		t.Errorf("FieldError for %q has an empty message", field)
	}
}

func TestValidateHookSpecAcceptsHTTPAndHTTPSURLs(t *testing.T) {
	tests := []struct {
		name string
		url  string
	}{
		{"https", "https://example.com/hook"},
		{"http", "http://example.com/hook"},
		{"port and query", "https://hooks.example.com:8443/a/b?x=1&y=2"},
		{"uppercase scheme", "HTTPS://example.com/"},
		{"ipv4 literal", "http://203.0.113.7/hook"},
		{"ipv6 literal", "http://[2001:db8::1]:8080/hook"},
		{"exactly max length", "https://example.com/" + strings.Repeat("a", domain.MaxURLLength-len("https://example.com/"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			s.URL = tt.url
			got, err := domain.ValidateHookSpec(s)
			if err != nil {
				t.Fatalf("ValidateHookSpec(%q) error: %v", tt.url, err)
			}
			if got.URL != tt.url {
				t.Errorf("URL = %q, want it unchanged %q", got.URL, tt.url)
			}
		})
	}
}

func TestValidateHookSpecRejectsBadURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
	}{
		{"empty", ""},
		{"relative path", "/hook"},
		{"no scheme", "example.com/hook"},
		{"ftp scheme", "ftp://example.com/hook"},
		{"file scheme", "file:///etc/passwd"},
		{"javascript scheme", "javascript:alert(1)"},
		{"no host", "http:///hook"},
		{"scheme only", "https://"},
		{"opaque", "https:example.com"},
		{"port without host", "http://:8080/hook"},
		{"user and password", "https://user:pass@example.com/hook"},
		{"user only", "https://user@example.com/hook"},
		{"unparsable", "http://exa mple.com/%zz"},
		{"longer than max", "https://example.com/" + strings.Repeat("a", domain.MaxURLLength)},
		{"one byte over max", "https://example.com/" + strings.Repeat("a", domain.MaxURLLength+1-len("https://example.com/"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			s.URL = tt.url
			_, err := domain.ValidateHookSpec(s)
			assertFieldError(t, err, "url")
		})
	}
}

func TestValidateHookSpecURLErrorsSayWhatIsWrong(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"", "required"},
		{"https://user:pass@example.com/", "credentials"},
		{"ftp://example.com/", "http"},
		{"https://example.com/" + strings.Repeat("a", domain.MaxURLLength), "2048"},
	}
	for _, tt := range tests {
		s := validSpec()
		s.URL = tt.url
		_, err := domain.ValidateHookSpec(s)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateHookSpec(url=%.40q) error = %v, want it to mention %q", tt.url, err, tt.want)
		}
	}
}

func TestValidateHookSpecAcceptsKnownEventsDeduplicatedInOrder(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		want   []string
	}{
		{"all", []string{"all"}, []string{"all"}},
		{"build", []string{"build"}, []string{"build"}},
		{"triggered", []string{"build/triggered"}, []string{"build/triggered"}},
		{"finished", []string{"build/finished"}, []string{"build/finished"}},
		{"both types", []string{"build/finished", "build/triggered"}, []string{"build/finished", "build/triggered"}},
		{"duplicates keep first position", []string{"build/finished", "all", "build/finished", "build", "all"}, []string{"build/finished", "all", "build"}},
		{"same event thrice", []string{"build", "build", "build"}, []string{"build"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			s.Events = tt.events
			got, err := domain.ValidateHookSpec(s)
			if err != nil {
				t.Fatalf("ValidateHookSpec(events=%q) error: %v", tt.events, err)
			}
			if !slices.Equal(got.Events, tt.want) {
				t.Errorf("Events = %q, want %q", got.Events, tt.want)
			}
		})
	}
}

func TestValidateHookSpecDoesNotModifyCallersEvents(t *testing.T) {
	in := []string{"build", "build", "all"}
	s := validSpec()
	s.Events = in
	if _, err := domain.ValidateHookSpec(s); err != nil {
		t.Fatal(err)
	}
	if want := []string{"build", "build", "all"}; !slices.Equal(in, want) {
		t.Errorf("caller's events changed to %q, want %q", in, want)
	}
}

func TestValidateHookSpecRejectsBadEvents(t *testing.T) {
	tests := []struct {
		name   string
		events []string
	}{
		{"nil", nil},
		{"empty", []string{}},
		{"unknown", []string{"push"}},
		{"unknown after known", []string{"all", "build/started"}},
		{"wrong case", []string{"ALL"}},
		{"wrong case type", []string{"Build/Finished"}},
		{"empty string", []string{""}},
		{"padded", []string{" build"}},
		{"wildcard", []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			s.Events = tt.events
			_, err := domain.ValidateHookSpec(s)
			assertFieldError(t, err, "events")
		})
	}
}

func TestValidateHookSpecCanonicalisesHeaderNames(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    map[string]string
	}{
		{"nil", nil, map[string]string{}},
		{"lowercase", map[string]string{"x-foo": "bar"}, map[string]string{"X-Foo": "bar"}},
		{"uppercase", map[string]string{"X-API-KEY": "k"}, map[string]string{"X-Api-Key": "k"}},
		{"already canonical", map[string]string{"Authorization": "Bearer t"}, map[string]string{"Authorization": "Bearer t"}},
		{"user agent may be set", map[string]string{"user-agent": "mine/2"}, map[string]string{"User-Agent": "mine/2"}},
		{"token punctuation", map[string]string{"x-a.b_c!#$%&'*+^`|~": "v"}, map[string]string{"X-A.b_c!#$%&'*+^`|~": "v"}},
		{"empty value kept", map[string]string{"x-empty": ""}, map[string]string{"X-Empty": ""}},
		{"value with spaces and tab", map[string]string{"x-v": "a b\tc"}, map[string]string{"X-V": "a b\tc"}},
		{"several", map[string]string{"x-one": "1", "X-Two": "2"}, map[string]string{"X-One": "1", "X-Two": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			s.Headers = tt.headers
			got, err := domain.ValidateHookSpec(s)
			if err != nil {
				t.Fatalf("ValidateHookSpec(headers=%q) error: %v", tt.headers, err)
			}
			if !maps.Equal(got.Headers, tt.want) {
				t.Errorf("Headers = %q, want %q", got.Headers, tt.want)
			}
		})
	}
}

func TestValidateHookSpecRejectsReservedHeader(t *testing.T) {
	names := []string{
		"Content-Type", "content-type", "CONTENT-TYPE",
		"bitrise-event-type", "Bitrise-Event-Type",
		"Bitrise-App-Id", "BITRISE-APP-ID",
		"Bitrise-Hook-Signature", "bitrise-hook-signature",
		"webhook-signature", "Webhook-Id", "webhook-timestamp",
		"Host", "content-length", "Transfer-Encoding", "connection",
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			s := validSpec()
			s.Headers = map[string]string{"X-Ok": "1", name: "v"}
			_, err := domain.ValidateHookSpec(s)
			assertFieldError(t, err, "headers")
		})
	}
}

func TestIsReservedHeaderIgnoresCase(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"bitrise-hook-signature", true},
		{"CONTENT-TYPE", true},
		{"Webhook-Signature", true},
		{"X-Foo", false},
		{"User-Agent", false},
		{"Authorization", false},
	}
	for _, tt := range tests {
		if got := domain.IsReservedHeader(tt.name); got != tt.want {
			t.Errorf("IsReservedHeader(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidateHookSpecRejectsHeaderNameThatIsNotAToken(t *testing.T) {
	names := []string{
		"",
		"X Foo",
		" X-Foo",
		"X-Foo ",
		"X-Foo:",
		"X:Foo",
		"X-Foo\r\nX-Evil",
		"X-Foo\n",
		"X-Foo\x00",
		"X-(Foo)",
		"X-\"Foo\"",
		"X-Fö",
		"X/Foo",
		"X@Foo",
		"X{Foo}",
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			s := validSpec()
			s.Headers = map[string]string{name: "v"}
			_, err := domain.ValidateHookSpec(s)
			assertFieldError(t, err, "headers")
		})
	}
}

func TestValidateHookSpecRejectsHeaderValueWithLineBreak(t *testing.T) {
	values := []string{
		"a\r\nX-Evil: 1",
		"a\nb",
		"a\rb",
		"\r\n",
		"a\x00b",
	}
	for _, v := range values {
		t.Run(v, func(t *testing.T) {
			s := validSpec()
			s.Headers = map[string]string{"X-Foo": v}
			_, err := domain.ValidateHookSpec(s)
			assertFieldError(t, err, "headers")
		})
	}
}

func TestValidateHookSpecRejectsHeaderNamesThatCanonicaliseTheSame(t *testing.T) {
	tests := []map[string]string{
		{"x-foo": "1", "X-Foo": "2"},
		{"X-FOO": "1", "x-foo": "1"},
		{"x-api-key": "a", "X-Api-Key": "b", "X-API-KEY": "c"},
	}
	for _, headers := range tests {
		s := validSpec()
		s.Headers = headers
		_, err := domain.ValidateHookSpec(s)
		assertFieldError(t, err, "headers")
	}
}

func TestValidateHookSpecKeepsSecret(t *testing.T) {
	secret := "s3cret"
	empty := ""
	tests := []struct {
		name   string
		secret *string
	}{
		{"none", nil},
		{"set", &secret},
		{"cleared", &empty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			s.Secret = tt.secret
			got, err := domain.ValidateHookSpec(s)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.secret == nil && got.Secret != nil:
				t.Errorf("Secret = %q, want nil", *got.Secret)
			case tt.secret != nil && (got.Secret == nil || *got.Secret != *tt.secret):
				t.Errorf("Secret = %v, want %q", got.Secret, *tt.secret)
			}
		})
	}
}

func TestHookMatchesAppAndEventType(t *testing.T) {
	tests := []struct {
		name      string
		events    []string
		app       string
		eventType string
		want      bool
	}{
		{"all matches triggered", []string{"all"}, "app1", domain.EventBuildTriggered, true},
		{"all matches finished", []string{"all"}, "app1", domain.EventBuildFinished, true},
		{"build matches triggered", []string{"build"}, "app1", domain.EventBuildTriggered, true},
		{"build matches finished", []string{"build"}, "app1", domain.EventBuildFinished, true},
		{"triggered matches triggered", []string{"build/triggered"}, "app1", domain.EventBuildTriggered, true},
		{"triggered skips finished", []string{"build/triggered"}, "app1", domain.EventBuildFinished, false},
		{"finished matches finished", []string{"build/finished"}, "app1", domain.EventBuildFinished, true},
		{"finished skips triggered", []string{"build/finished"}, "app1", domain.EventBuildTriggered, false},
		{"other app", []string{"all"}, "app2", domain.EventBuildTriggered, false},
		{"no events", nil, "app1", domain.EventBuildTriggered, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := domain.Hook{Slug: "h", AppSlug: "app1", Events: tt.events}
			if got := h.Matches(tt.app, tt.eventType); got != tt.want {
				t.Errorf("Hook{Events: %q}.Matches(%q, %q) = %v, want %v", tt.events, tt.app, tt.eventType, got, tt.want)
			}
		})
	}
}
