package eventlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"
)

// enc is encodeEntry without the returned hash.
func enc(seq uint64, prev [HashSize]byte, uuid string, at time.Time, md map[string]string, payload []byte) []byte {
	b, _ := encodeEntry(nil, seq, prev, uuid, at, md, payload)
	return b
}

func testPrev() [HashSize]byte { return sha256.Sum256([]byte("the entry before")) }

func validEncodedEntry() []byte {
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	return enc(42, testPrev(), "0191b7c4-uuid", at,
		map[string]string{MetaName: "hook.configured.v1", "correlation_id": "c-1", MetaSeq: "99"},
		[]byte(`{"hook_slug":"h"}`))
}

func TestEncodeDecodeEntryRoundTrip(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	b := validEncodedEntry()
	e, err := decodeEntry(42, b)
	if err != nil {
		t.Fatal(err)
	}
	wantMD := map[string]string{MetaName: "hook.configured.v1", "correlation_id": "c-1", MetaSeq: "42"}
	if e.Seq != 42 || e.UUID != "0191b7c4-uuid" || !e.Time.Equal(at) || e.Time.Location() != time.UTC ||
		!maps.Equal(e.Metadata, wantMD) || string(e.Payload) != `{"hook_slug":"h"}` {
		t.Fatalf("decoded %+v", e)
	}
	if e.PrevHash != testPrev() {
		t.Fatalf("PrevHash = %x, want %x", e.PrevHash, testPrev())
	}
	if e.Hash != entryHash(42, b) || e.Hash == ([HashSize]byte{}) {
		t.Fatalf("Hash = %x, want %x", e.Hash, entryHash(42, b))
	}

	// No metadata, empty UUID and empty payload are valid.
	e, err = decodeEntry(1, enc(1, [HashSize]byte{}, "", at, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if e.UUID != "" || len(e.Payload) != 0 || !maps.Equal(e.Metadata, map[string]string{MetaSeq: "1"}) || e.PrevHash != ([HashSize]byte{}) {
		t.Fatalf("decoded minimal entry %+v", e)
	}
}

// TestEntryHashFormula pins the hash to its documented definition:
// SHA-256(prev hash || seq as 8 bytes big-endian || format byte || body).
func TestEntryHashFormula(t *testing.T) {
	b, sum := encodeEntry(nil, 42, testPrev(), "0191b7c4-uuid", time.Unix(0, 7), map[string]string{MetaName: "x.v1"}, []byte("{}"))
	prev := testPrev()
	msg := append([]byte(nil), prev[:]...)
	msg = binary.BigEndian.AppendUint64(msg, 42)
	msg = append(msg, entryFormat)
	msg = append(msg, b[entryBodyAt:]...)
	if want := sha256.Sum256(msg); sum != want || !bytes.Equal(b[entryHashAt:entryBodyAt], want[:]) {
		t.Fatalf("hash %x (stored %x), want %x", sum, b[entryHashAt:entryBodyAt], want)
	}
	if b[0] != 2 || !bytes.Equal(b[entryPrevAt:entryHashAt], prev[:]) {
		t.Fatalf("header %x: want format 2 and the prev hash", b[:entryHashAt])
	}
	// The same bytes under another sequence, or after another entry, hash differently.
	if entryHash(43, b) == sum {
		t.Fatal("the hash does not depend on the sequence")
	}
	other := append([]byte(nil), b...)
	other[entryPrevAt] ^= 1
	if entryHash(42, other) == sum {
		t.Fatal("the hash does not depend on the prev hash")
	}
}

// TestDecodeEntryCorrupt: damaged bytes give errCorruptEntry naming the
// seq, never a panic or an out-of-memory allocation.
func TestDecodeEntryCorrupt(t *testing.T) {
	valid := validEncodedEntry()
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), valid...)) }
	minimal := enc(1, [HashSize]byte{}, "u", time.Unix(0, 0), nil, nil)
	uuidAt := entryMinLength // the UUID's length comes right after the time

	cases := map[string][]byte{
		"nil":                 nil,
		"empty":               {},
		"format byte only":    {entryFormat},
		"prev hash cut":       valid[:20],
		"hash cut":            valid[:entryHashAt+5],
		"hashes only":         valid[:entryBodyAt],
		"truncated time":      valid[:entryBodyAt+5],
		"time only":           valid[:uuidAt],
		"format 1":            with(func(b []byte) []byte { b[0] = 1; return b }),
		"format 3":            with(func(b []byte) []byte { b[0] = 3; return b }),
		"zero format byte":    with(func(b []byte) []byte { b[0] = 0; return b }),
		"uuid length too big": with(func(b []byte) []byte { b[uuidAt] = 0x7f; return b[:uuidAt+11] }),
		"uuid cut":            valid[:uuidAt+1+3],
		"bad uvarint":         append(append([]byte(nil), valid[:uuidAt]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"huge uuid length":    append(append([]byte(nil), valid[:uuidAt]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
		"huge metadata count": append(append([]byte(nil), minimal[:uuidAt+2]...), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"metadata count cut":  minimal[:uuidAt+2],
	}
	// Every proper prefix that ends before the payload must fail too.
	metaEnd := len(valid) - len(`{"hook_slug":"h"}`)
	for i := 0; i < metaEnd; i++ {
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
			var ce *corruptEntryError
			if !errors.As(err, &ce) || ce.seq != 5 {
				t.Fatalf("error %v does not name seq 5", err)
			}
		})
	}
}

// FuzzDecodeEntry: arbitrary bytes never panic; whatever decodes
// re-encodes to the same bytes' meaning.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(validEncodedEntry())
	f.Add(append([]byte{entryFormat}, make([]byte, entryMinLength+2)...))
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(3, b)
		if err != nil {
			return
		}
		md := maps.Clone(e.Metadata)
		delete(md, MetaSeq)
		again, err := decodeEntry(3, enc(3, e.PrevHash, e.UUID, e.Time, md, e.Payload))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if again.UUID != e.UUID || !again.Time.Equal(e.Time) || !maps.Equal(again.Metadata, e.Metadata) ||
			string(again.Payload) != string(e.Payload) || again.PrevHash != e.PrevHash {
			t.Fatalf("re-encode changed the entry: %+v vs %+v", again, e)
		}
	})
}
