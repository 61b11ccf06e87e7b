package domain

import (
	"maps"
	"net/textproto"
	"slices"
)

// KeepMaskedHeaders returns the custom headers to store when a user sends
// submitted for a hook whose stored headers are stored (nil for a new
// hook). A hook is shown with the values of its credential-like headers
// masked (IsMaskedHeader), so a client that sends a hook back as it read
// it sends those values as Masked: such a value keeps the stored value of
// that header. Names compare as HTTP header names do (case-insensitively,
// in canonical form, as ValidateHookSpec stores them), and the result is
// keyed by canonical name. A Masked value for a header with no stored
// value (always, for a new hook) is an error naming the header: only the
// real value can be stored. A header that is not credential-like is never
// masked, so a value of Masked is stored as sent; a header not submitted
// is not kept.
func KeepMaskedHeaders(submitted, stored map[string]string) (map[string]string, error) {
	byName := make(map[string]string, len(stored))
	for name, value := range stored {
		byName[textproto.CanonicalMIMEHeaderKey(name)] = value
	}
	out := make(map[string]string, len(submitted))
	// In order, so the error names the same header every time.
	for _, name := range slices.Sorted(maps.Keys(submitted)) {
		value := submitted[name]
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if _, dup := out[canon]; dup {
			return nil, invalid("headers", "%q is given twice", canon)
		}
		if value == Masked && IsMaskedHeader(canon) {
			kept, ok := byName[canon]
			if !ok {
				return nil, invalid("headers", "%q is %s, which keeps the value stored for it, and this hook has none; send the real value",
					canon, Masked)
			}
			value = kept
		}
		out[canon] = value
	}
	return out, nil
}
