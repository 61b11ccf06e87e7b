package eventlog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Metadata keys hookd sets on its messages.
const (
	// MetaName is the event's wire name, such as "hook.configured.v1".
	MetaName = "name"
	// MetaDeliveryID is set on delivery.requested, redelivery.requested,
	// test_delivery.requested and delivery.attempted entries: the delivery id.
	MetaDeliveryID = "delivery_id"
	// MetaSeq is set by the Subscriber: the entry's sequence in its topic.
	MetaSeq = "seq"
)

// Entry is one record of the log.
type Entry struct {
	Seq      uint64
	UUID     string
	Time     time.Time // when the entry was appended
	Metadata map[string]string
	Payload  []byte
	// PrevHash is the Hash of the entry before this one in its topic (32
	// zero bytes for seq 1), and Hash is SHA-256 over PrevHash, Seq and the
	// entry's other stored bytes (see entryFormat): the topic's hash chain.
	// Readers get them as stored; Store.Verify checks them.
	PrevHash [HashSize]byte
	Hash     [HashSize]byte
}

// Name is the wire name of the event the entry holds, e.g. "delivery.attempted.v1".
func (e Entry) Name() string { return e.Metadata[MetaName] }

// Type is the wire name without its version suffix, e.g. "delivery.attempted".
func (e Entry) Type() string {
	t, _ := splitName(e.Name())
	return t
}

// Version is the schema version from the wire name's ".vN" suffix, or 0.
func (e Entry) Version() int {
	_, v := splitName(e.Name())
	return v
}

func splitName(name string) (string, int) {
	i := strings.LastIndex(name, ".v")
	if i < 0 {
		return name, 0
	}
	v, err := strconv.Atoi(name[i+2:])
	if err != nil {
		return name, 0
	}
	return name[:i], v
}

// entryFormat is the first byte of every stored entry; a new layout gets a
// new number. Format 1 (no hash chain) was never deployed and is not read.
const entryFormat byte = 2

// HashSize is the size of an entry's hash and of its link to the previous one.
const HashSize = sha256.Size

// Offsets in a stored entry (format 2):
//
//	[0]      format byte, 2
//	[1:33]   prev hash: the hash of the entry before it in its topic,
//	         32 zero bytes for seq 1
//	[33:65]  hash: SHA-256(prev hash || seq || format byte || body), where
//	         seq is the entry's sequence (from its key) as 8 bytes big-endian
//	[65:]    body: append time (unix nanos, int64 big-endian), UUID,
//	         metadata count and pairs (sorted by key), each string as uvarint
//	         length and bytes, then the payload to the end
//
// Every byte of the value except the hash field itself, and the sequence in
// the key, go into the hash, and each hash goes into the next entry's: the
// entries of a topic form a hash chain from 32 zero bytes. Changing,
// removing or reordering any entry breaks a link that Store.Verify finds.
const (
	entryPrevAt    = 1
	entryHashAt    = entryPrevAt + HashSize
	entryBodyAt    = entryHashAt + HashSize
	entryMinLength = entryBodyAt + 8 // a body has at least its time
)

var errCorruptEntry = errors.New("eventlog: corrupt entry")

// corruptEntryError says which entry does not decode and why; it matches
// errCorruptEntry with errors.Is.
type corruptEntryError struct {
	seq    uint64
	reason string
}

func (e *corruptEntryError) Error() string {
	return fmt.Sprintf("%v at seq %d: %s", errCorruptEntry, e.seq, e.reason)
}

func (e *corruptEntryError) Unwrap() error { return errCorruptEntry }

func corrupt(seq uint64, reason string) error { return &corruptEntryError{seq: seq, reason: reason} }

// encodeEntry appends the stored form of entry seq, linked to prev, to dst
// and returns it with the entry's hash. The "seq" metadata key is derived
// from the key and never stored.
func encodeEntry(dst []byte, seq uint64, prev [HashSize]byte, uuid string, at time.Time, md map[string]string, payload []byte) ([]byte, [HashSize]byte) {
	start := len(dst)
	dst = append(dst, entryFormat)
	dst = append(dst, prev[:]...)
	dst = append(dst, make([]byte, HashSize)...) // the hash, filled in below
	dst = binary.BigEndian.AppendUint64(dst, uint64(at.UnixNano()))
	dst = appendString(dst, uuid)
	keys := make([]string, 0, len(md))
	for k := range md {
		if k == MetaSeq {
			continue // derived from the key, never stored
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = appendString(dst, k)
		dst = appendString(dst, md[k])
	}
	dst = append(dst, payload...)
	sum := entryHash(seq, dst[start:])
	copy(dst[start+entryHashAt:], sum[:])
	return dst, sum
}

// entryHash computes the hash a stored entry b of sequence seq must carry,
// from its prev hash, format byte and body; b must be at least
// entryBodyAt bytes long.
func entryHash(seq uint64, b []byte) [HashSize]byte {
	h := sha256.New()
	h.Write(b[entryPrevAt:entryHashAt])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], seq)
	h.Write(n[:])
	h.Write(b[:1])
	h.Write(b[entryBodyAt:])
	var sum [HashSize]byte
	h.Sum(sum[:0])
	return sum
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// storedHash returns the hash field of a stored entry, without decoding the rest.
func storedHash(seq uint64, b []byte) ([HashSize]byte, error) {
	var sum [HashSize]byte
	if len(b) < entryMinLength || b[0] != entryFormat {
		return sum, corrupt(seq, "unknown format, or shorter than a header")
	}
	copy(sum[:], b[entryHashAt:entryBodyAt])
	return sum, nil
}

// decodeEntry parses an entry stored under seq. The payload is copied, so
// the result outlives the Badger transaction. It checks the layout, not
// the hashes: Store.Verify does that.
func decodeEntry(seq uint64, b []byte) (Entry, error) {
	if len(b) < entryMinLength || b[0] != entryFormat {
		return Entry{}, corrupt(seq, "unknown format, or shorter than a header")
	}
	e := Entry{Seq: seq}
	copy(e.PrevHash[:], b[entryPrevAt:entryHashAt])
	copy(e.Hash[:], b[entryHashAt:entryBodyAt])
	e.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b[entryBodyAt:entryBodyAt+8]))).UTC()
	rest := b[entryBodyAt+8:]
	var ok bool
	if e.UUID, rest, ok = readString(rest); !ok {
		return Entry{}, corrupt(seq, "bad uuid")
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)) {
		return Entry{}, corrupt(seq, "bad metadata count")
	}
	rest = rest[w:]
	e.Metadata = make(map[string]string, n+1)
	for i := uint64(0); i < n; i++ {
		var k, v string
		if k, rest, ok = readString(rest); !ok {
			return Entry{}, corrupt(seq, "bad metadata key")
		}
		if v, rest, ok = readString(rest); !ok {
			return Entry{}, corrupt(seq, "bad metadata value")
		}
		e.Metadata[k] = v
	}
	e.Metadata[MetaSeq] = strconv.FormatUint(seq, 10)
	e.Payload = slices.Clone(rest)
	return e, nil
}

func readString(b []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return "", nil, false
	}
	end := w + int(n)
	return string(b[w:end]), b[end:], true
}

// MarshalEntry appends the stored form of entry seq, linked to prev (the
// Hash of entry seq-1; 32 zero bytes for seq 1), to dst and returns it with
// the entry's hash. Every adapter stores entries in this form, so the hash
// chain is the same on every backend. MetaSeq is never stored.
func MarshalEntry(dst []byte, seq uint64, prev [HashSize]byte, uuid string, at time.Time, md map[string]string, payload []byte) ([]byte, [HashSize]byte) {
	return encodeEntry(dst, seq, prev, uuid, at, md, payload)
}

// UnmarshalEntry parses b, the stored form of entry seq (MarshalEntry),
// copying what it keeps. It checks the layout, not the hashes; its error
// names the entry. EntryHash gives the hash b's bytes call for.
func UnmarshalEntry(seq uint64, b []byte) (Entry, error) { return decodeEntry(seq, b) }

// EntryHash is the hash the stored entry b of sequence seq must carry
// (compare it with the Entry's Hash to find a changed entry). b must have
// decoded with UnmarshalEntry.
func EntryHash(seq uint64, b []byte) [HashSize]byte { return entryHash(seq, b) }

// CorruptEntry is the error an adapter returns for entry seq of its log
// that is missing or does not decode before the head; Verify reports it as
// a broken link.
func CorruptEntry(seq uint64, reason string) error { return corrupt(seq, reason) }

// StoredHash returns the hash field of b, the stored form of entry seq,
// without decoding the rest.
func StoredHash(seq uint64, b []byte) ([HashSize]byte, error) { return storedHash(seq, b) }
