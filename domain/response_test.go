package domain_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain"
)

func TestCapResponseHeadersKeepsWholeHeadersInNameOrderUpToTheLimit(t *testing.T) {
	type hs = map[string][]string
	cases := []struct {
		name      string
		in        hs
		limit     int
		want      hs
		truncated bool
	}{
		{"no headers", nil, 10, nil, false},
		{"empty", hs{}, 10, hs{}, false},
		{"all fit exactly", hs{"A": {"12345"}, "B": {"1234"}}, 11, hs{"A": {"12345"}, "B": {"1234"}}, false},
		{"one byte short drops the last whole line", hs{"A": {"12345"}, "B": {"1234"}}, 10, hs{"A": {"12345"}}, true},
		{"names count as well as values", hs{"Long-Name": {"v"}}, 9, hs{}, true},
		{"taken in name order, not by size", hs{"Z": {"1"}, "A": {"123456789"}}, 10, hs{"A": {"123456789"}}, true},
		{
			"a repeated header keeps its first values in order",
			hs{"Set-Cookie": {"a=1", "b=2", "c=3"}},
			len("Set-Cookie")*2 + 6, hs{"Set-Cookie": {"a=1", "b=2"}}, true,
		},
		{
			"after the first line that does not fit, nothing smaller is squeezed in",
			hs{"A": {"1"}, "B": {strings.Repeat("x", 100)}, "C": {"1"}},
			20, hs{"A": {"1"}}, true,
		},
		{"a header bigger than the limit alone keeps nothing", hs{"A": {strings.Repeat("x", 20)}}, 10, hs{}, true},
		{"a name without values carries nothing", hs{"A": {}, "B": {"1"}}, 10, hs{"B": {"1"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, truncated := domain.CapResponseHeaders(c.in, c.limit)
			if !reflect.DeepEqual(got, c.want) || truncated != c.truncated {
				t.Errorf("CapResponseHeaders(%v, %d) = %v, %v; want %v, %v", c.in, c.limit, got, truncated, c.want, c.truncated)
			}
		})
	}
}

func TestCapResponseHeadersDoesNotShareValuesWithItsInput(t *testing.T) {
	in := map[string][]string{"A": {"1", "2"}}
	got, _ := domain.CapResponseHeaders(in, 100)
	got["A"][0] = "changed"
	if in["A"][0] != "1" {
		t.Errorf("changing the result changed the input: %v", in)
	}
}

func TestSetBodyStoresTextAsTextAndOtherBytesAsBase64Exactly(t *testing.T) {
	cases := []struct {
		name         string
		raw          []byte
		partial      bool
		wantBody     string
		wantEncoding string
		wantKept     []byte
	}{
		{"empty", nil, false, "", "", nil},
		{"ascii", []byte(`{"ok":true}`), false, `{"ok":true}`, "", []byte(`{"ok":true}`)},
		{"utf-8 text", []byte("grüße ✓"), false, "grüße ✓", "", []byte("grüße ✓")},
		{"latin-1 byte", []byte("gr\xfc\xdfe"), false, "Z3L832U=", domain.BodyEncodingBase64, []byte("gr\xfc\xdfe")},
		{"binary with NUL", []byte{0, 1, 2, 0xff}, false, "AAEC/w==", domain.BodyEncodingBase64, []byte{0, 1, 2, 0xff}},
		// A complete body ending in half a character is what it is.
		{"complete body ending mid-character", []byte("ok \xe2\x9c"), false, "b2sg4pw=", domain.BodyEncodingBase64, []byte("ok \xe2\x9c")},
		{"partial body cut mid-character stays text", []byte("ok \xe2\x9c"), true, "ok ", "", []byte("ok ")},
		{"partial body cut after a whole character", []byte("ok ✓"), true, "ok ✓", "", []byte("ok ✓")},
		{"partial binary body stays whole", []byte("\xff\xfe ok \xe2\x9c"), true, "//4gb2sg4pw=", domain.BodyEncodingBase64, []byte("\xff\xfe ok \xe2\x9c")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r domain.Response
			kept := r.SetBody(c.raw, c.partial)
			if r.Body != c.wantBody || r.BodyEncoding != c.wantEncoding || kept != len(c.wantKept) {
				t.Errorf("SetBody(%q, %v): body %q, encoding %q, kept %d; want %q, %q, %d",
					c.raw, c.partial, r.Body, r.BodyEncoding, kept, c.wantBody, c.wantEncoding, len(c.wantKept))
			}
			back, err := r.RawBody()
			if err != nil || !bytes.Equal(back, c.wantKept) {
				t.Errorf("RawBody() = %q, %v; want the kept bytes %q", back, err, c.wantKept)
			}
		})
	}
}

func TestRawBodyRefusesAnUnknownEncoding(t *testing.T) {
	for _, r := range []domain.Response{
		{Body: "x", BodyEncoding: "gzip"},
		{Body: "not base64!", BodyEncoding: domain.BodyEncodingBase64},
	} {
		if b, err := r.RawBody(); err == nil {
			t.Errorf("RawBody of %+v = %q, want an error", r, b)
		}
	}
}
