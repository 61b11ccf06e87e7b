package domain

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"
)

// CapResponseHeaders returns the part of a response's headers that is
// stored, and whether some were left out. Header lines (a name with one of
// its values) are taken in order of name, each name's values in the order
// they came, and kept whole while their names and values together fit in
// limit bytes; the first line that would pass it and every line after it
// are left out. So the same headers always keep the same part, and a
// value is never cut in the middle.
func CapResponseHeaders(h map[string][]string, limit int) (map[string][]string, bool) {
	if h == nil {
		return nil, false
	}
	out := make(map[string][]string, len(h))
	used := 0
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			n := len(name) + len(v)
			if used+n > limit {
				return out, true
			}
			used += n
			out[name] = append(out[name], v)
		}
	}
	return out, false
}

// SetBody stores the kept bytes b of a response body: as text when they
// are UTF-8, else as their base64 with BodyEncodingBase64. When the body is
// partial (cut at MaxResponseBody, or cut off by the receiver or a
// timeout), a character split by the cut is dropped, so that a text body
// stays text rather than turning into base64 for its last bytes. It
// returns how many bytes are stored.
func (r *Response) SetBody(b []byte, partial bool) int {
	if partial && !utf8.Valid(b) {
		if t := trimSplitRune(b); utf8.Valid(t) {
			b = t
		}
	}
	if utf8.Valid(b) {
		r.Body, r.BodyEncoding = string(b), ""
	} else {
		r.Body, r.BodyEncoding = base64.StdEncoding.EncodeToString(b), BodyEncodingBase64
	}
	return len(b)
}

// RawBody returns the body's bytes as the receiver sent them.
func (r Response) RawBody() ([]byte, error) {
	switch r.BodyEncoding {
	case "":
		return []byte(r.Body), nil
	case BodyEncodingBase64:
		b, err := base64.StdEncoding.DecodeString(r.Body)
		if err != nil {
			return nil, fmt.Errorf("response body: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("response body: unknown encoding %q", r.BodyEncoding)
}

// trimSplitRune drops an incomplete UTF-8 sequence at the end of b.
func trimSplitRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			return b
		}
	}
	return b
}
