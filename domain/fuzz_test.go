package domain_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"net/textproto"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hookd/hookd/domain"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/; a plain `go test`
// runs them. `make fuzz` explores further.

func FuzzDecodeBuildEvent(f *testing.F) {
	f.Add("app-1", []byte(`{"build_slug":"b-1","build_number":1,"build_status":0}`))
	f.Fuzz(func(t *testing.T, app string, body []byte) {
		p, err := domain.DecodeBuildEvent(app, body)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if p.AppSlug != app || p.BuildSlug == "" {
			t.Fatalf("accepted payload %+v for app %q", p, app)
		}
		out := p.Body()
		if !json.Valid(out) {
			t.Fatalf("Body() is not valid JSON: %q", out)
		}
		if !utf8.ValidString(app) {
			return // the app slug is replaced by U+FFFD in JSON; the API only passes valid slugs
		}
		again, err := domain.DecodeBuildEvent(app, out)
		if err != nil {
			t.Fatalf("decoding Body() %s again: %v", out, err)
		}
		if !reflect.DeepEqual(again, p) {
			t.Fatalf("decoding Body() again gave %+v, want %+v", again, p)
		}
		if b := again.Body(); string(b) != string(out) {
			t.Fatalf("Body() is not stable: %s, then %s", out, b)
		}
	})
}

func FuzzValidateHookSpec(f *testing.F) {
	f.Add("https://example.com/hook", "all", "x-custom", "v", "", "", "", false)
	f.Fuzz(func(t *testing.T, rawURL, events, name1, value1, name2, value2, secret string, withSecret bool) {
		spec := domain.HookSpec{URL: rawURL, Headers: map[string]string{}}
		if events != "" {
			spec.Events = strings.Split(events, ",")
		}
		if name1 != "" || value1 != "" {
			spec.Headers[name1] = value1
		}
		if name2 != "" || value2 != "" {
			spec.Headers[name2] = value2
		}
		if withSecret {
			spec.Secret = &secret
		}
		got, err := domain.ValidateHookSpec(spec)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if got.URL != rawURL || len(got.URL) > domain.MaxURLLength || strings.ContainsAny(got.URL, "\r\n\x00") {
			t.Fatalf("accepted URL %q (%d bytes)", got.URL, len(got.URL))
		}
		u, err := url.Parse(got.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted URL %q: parse %v, scheme %q, host %q", got.URL, err, u.Scheme, u.Hostname())
		}
		if len(got.Events) == 0 {
			t.Fatal("accepted a hook without events")
		}
		for i, e := range got.Events {
			if e != domain.SelectAll && e != domain.SelectBuild && !domain.ValidEventType(e) {
				t.Fatalf("accepted event %q", e)
			}
			if slices.Contains(got.Events[:i], e) {
				t.Fatalf("events %q repeat %q", got.Events, e)
			}
		}
		for name, value := range got.Headers {
			if name == "" || textproto.CanonicalMIMEHeaderKey(name) != name {
				t.Fatalf("accepted header name %q is not canonical", name)
			}
			if strings.ContainsAny(name, "\r\n\x00 :") || strings.ContainsAny(value, "\r\n\x00") {
				t.Fatalf("accepted header %q: %q with CR, LF or NUL", name, value)
			}
			if domain.IsReservedHeader(name) {
				t.Fatalf("accepted reserved header %q", name)
			}
		}
		// Canonical form is a fixed point.
		again, err := domain.ValidateHookSpec(got)
		if err != nil {
			t.Fatalf("validating the canonical form again: %v", err)
		}
		if again.URL != got.URL || !slices.Equal(again.Events, got.Events) || !reflect.DeepEqual(again.Headers, got.Headers) {
			t.Fatalf("canonical form %+v validated again to %+v", got, again)
		}
	})
}

func FuzzCheckTarget(f *testing.F) {
	f.Add([]byte("127.0.0.1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var addrs []netip.Addr
		switch len(data) {
		case 4:
			addrs = append(addrs, netip.AddrFrom4([4]byte(data)))
		case 16:
			addrs = append(addrs, netip.AddrFrom16([16]byte(data)))
		}
		if a, err := netip.ParseAddr(string(data)); err == nil {
			addrs = append(addrs, a)
		}
		for _, a := range addrs {
			err := domain.CheckTarget(a)
			if err != nil {
				if !errors.Is(err, domain.ErrTargetForbidden) || !errors.Is(err, domain.ErrInvalid) {
					t.Fatalf("CheckTarget(%s) error %v does not wrap ErrTargetForbidden and ErrInvalid", a, err)
				}
				continue
			}
			if why := forbiddenByNetip(a); why != "" {
				t.Fatalf("CheckTarget(%s) accepted an address that is %s", a, why)
			}
		}
	})
}

func FuzzParseHostAddr(f *testing.F) {
	f.Add("0x7f000001")
	f.Fuzz(func(t *testing.T, host string) {
		a, ok := domain.ParseHostAddr(host)
		if plain, err := netip.ParseAddr(host); err == nil {
			// Whatever netip reads, ParseHostAddr reads the same.
			if !ok || a != plain {
				t.Fatalf("ParseHostAddr(%q) = %s, %v; netip reads %s", host, a, ok, plain)
			}
		}
		if !ok {
			return
		}
		if !a.IsValid() {
			t.Fatalf("ParseHostAddr(%q) = invalid address, true", host)
		}
		if a.Is4() {
			if strings.Trim(strings.TrimSuffix(host, "."), "0123456789abcdefABCDEFxX.") != "" && !strings.HasPrefix(host, "[") {
				t.Fatalf("ParseHostAddr(%q) = %s from characters no IPv4 spelling has", host, a)
			}
			if back, ok := domain.ParseHostAddr(a.String()); !ok || back != a {
				t.Fatalf("ParseHostAddr(%q) = %s, which reads back as %s, %v", host, a, back, ok)
			}
		}
		if err := domain.CheckTarget(a); err == nil {
			if why := forbiddenByNetip(a); why != "" {
				t.Fatalf("%q reads as %s, which CheckTarget accepted but is %s", host, a, why)
			}
		}
	})
}

// forbiddenByNetip says why an address is not a public unicast target,
// using net/netip's own predicates rather than CheckTarget's table, and
// looking inside IPv6 forms that carry an IPv4 address; "" if it is public.
func forbiddenByNetip(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	case a.IsUnspecified():
		return "unspecified"
	case !a.IsGlobalUnicast():
		return "not global unicast"
	case netip.MustParsePrefix("100.64.0.0/10").Contains(a):
		return "CGNAT"
	case netip.MustParsePrefix("::/96").Contains(a):
		return "IPv4-compatible"
	case netip.MustParsePrefix("2001::/32").Contains(a):
		return "Teredo"
	}
	if a.Is6() {
		b := a.As16()
		var inner netip.Addr
		switch {
		case netip.MustParsePrefix("64:ff9b::/96").Contains(a), netip.MustParsePrefix("::ffff:0:0:0/96").Contains(a):
			inner = netip.AddrFrom4([4]byte(b[12:16]))
		case netip.MustParsePrefix("2002::/16").Contains(a):
			inner = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if inner.IsValid() {
			if why := forbiddenByNetip(inner); why != "" {
				return why + " (carried in " + a.String() + ")"
			}
		}
	}
	return ""
}
