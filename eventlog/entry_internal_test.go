package eventlog

import (
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"
)

func validEncodedEntry() []byte {
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	return encodeEntry(nil, "0191b7c4-uuid", at,
		map[string]string{MetaName: "hook.configured.v1", "correlation_id": "c-1", MetaSeq: "99"},
		[]byte(`{"hook_slug":"h"}`))
}

func TestEncodeDecodeEntryRoundTrip(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	e, err := decodeEntry(42, validEncodedEntry())
	if err != nil {
		t.Fatal(err)
	}
	wantMD := map[string]string{MetaName: "hook.configured.v1", "correlation_id": "c-1", MetaSeq: "42"}
	if e.Seq != 42 || e.UUID != "0191b7c4-uuid" || !e.Time.Equal(at) || e.Time.Location() != time.UTC ||
		!maps.Equal(e.Metadata, wantMD) || string(e.Payload) != `{"hook_slug":"h"}` {
		t.Fatalf("decoded %+v", e)
	}

	// No metadata, empty UUID and empty payload are valid.
	e, err = decodeEntry(1, encodeEntry(nil, "", at, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if e.UUID != "" || len(e.Payload) != 0 || !maps.Equal(e.Metadata, map[string]string{MetaSeq: "1"}) {
		t.Fatalf("decoded minimal entry %+v", e)
	}
}

// TestDecodeEntryCorrupt: damaged bytes give errCorruptEntry, never a panic
// or an out-of-memory allocation.
func TestDecodeEntryCorrupt(t *testing.T) {
	valid := validEncodedEntry()
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), valid...)) }

	cases := map[string][]byte{
		"nil":                 nil,
		"empty":               {},
		"format byte only":    {entryFormat},
		"truncated time":      valid[:5],
		"time only":           valid[:9],
		"wrong format byte":   with(func(b []byte) []byte { b[0] = 2; return b }),
		"zero format byte":    with(func(b []byte) []byte { b[0] = 0; return b }),
		"uuid length too big": with(func(b []byte) []byte { b[9] = 0x7f; return b[:20] }),
		"uuid cut":            valid[:9+1+3],
		"bad uvarint":         append(append([]byte(nil), valid[:9]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"huge uuid length":    append(append([]byte(nil), valid[:9]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
		"huge metadata count": append(encodeEntry(nil, "u", time.Unix(0, 0), nil, nil)[:11], 0xff, 0xff, 0xff, 0xff, 0x0f),
		"metadata count cut":  encodeEntry(nil, "u", time.Unix(0, 0), nil, nil)[:11],
	}
	// Every proper prefix that ends inside the metadata must fail too.
	metaEnd := len(valid) - len(`{"hook_slug":"h"}`)
	for i := 9; i < metaEnd; i++ {
		cases[fmt.Sprintf("prefix of %d bytes", i)] = valid[:i]
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("decodeEntry panicked on %x: %v", b, r)
				}
			}()
			e, err := decodeEntry(5, b)
			if !errors.Is(err, errCorruptEntry) {
				t.Fatalf("decodeEntry(%x) = %+v, %v; want errCorruptEntry", b, e, err)
			}
		})
	}
}

// FuzzDecodeEntry: arbitrary bytes never panic; whatever decodes
// re-encodes to the same bytes' meaning.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(validEncodedEntry())
	f.Add([]byte{entryFormat, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(3, b)
		if err != nil {
			return
		}
		md := maps.Clone(e.Metadata)
		delete(md, MetaSeq)
		again, err := decodeEntry(3, encodeEntry(nil, e.UUID, e.Time, md, e.Payload))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if again.UUID != e.UUID || !again.Time.Equal(e.Time) || !maps.Equal(again.Metadata, e.Metadata) || string(again.Payload) != string(e.Payload) {
			t.Fatalf("re-encode changed the entry: %+v vs %+v", again, e)
		}
	})
}
