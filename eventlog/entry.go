package eventlog

import (
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
// new number and old entries are still read.
const entryFormat byte = 1

var errCorruptEntry = errors.New("eventlog: corrupt entry")

// encodeEntry lays out an entry as: format byte, append time (unix nanos,
// int64 big-endian), UUID, metadata count and pairs (sorted by key), each
// string as uvarint length and bytes, then the payload to the end.
func encodeEntry(dst []byte, uuid string, at time.Time, md map[string]string, payload []byte) []byte {
	dst = append(dst, entryFormat)
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
	return append(dst, payload...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeEntry parses an entry stored under seq. The payload is copied, so
// the result outlives the Badger transaction.
func decodeEntry(seq uint64, b []byte) (Entry, error) {
	if len(b) < 9 || b[0] != entryFormat {
		return Entry{}, fmt.Errorf("%w at seq %d: unknown format", errCorruptEntry, seq)
	}
	e := Entry{Seq: seq, Time: time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))).UTC()}
	rest := b[9:]
	var ok bool
	if e.UUID, rest, ok = readString(rest); !ok {
		return Entry{}, fmt.Errorf("%w at seq %d: uuid", errCorruptEntry, seq)
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)) {
		return Entry{}, fmt.Errorf("%w at seq %d: metadata count", errCorruptEntry, seq)
	}
	rest = rest[w:]
	e.Metadata = make(map[string]string, n+1)
	for i := uint64(0); i < n; i++ {
		var k, v string
		if k, rest, ok = readString(rest); !ok {
			return Entry{}, fmt.Errorf("%w at seq %d: metadata key", errCorruptEntry, seq)
		}
		if v, rest, ok = readString(rest); !ok {
			return Entry{}, fmt.Errorf("%w at seq %d: metadata value", errCorruptEntry, seq)
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
