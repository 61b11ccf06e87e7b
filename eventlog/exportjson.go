package eventlog

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"time"
)

// ExportEntry is one log entry in its exported form: a line of
// `hookd log export`, and one object of GET /v0.1/log/entries. It carries
// everything the entry's hash covers, so that the entry, and its hash, can
// be rebuilt from it (ParseExportJSON).
type ExportEntry struct {
	Seq     uint64          `json:"seq"`
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Version int             `json:"version"`
	Time    time.Time       `json:"time"`
	Payload json.RawMessage `json:"payload"`
	// Hash and PrevHash are the entry's link in the log's hash chain.
	Hash     string `json:"hash"`
	PrevHash string `json:"prev_hash"`
	// Metadata and PayloadBase64 complete what the hash covers (see
	// NewExportEntry).
	Metadata      map[string]string `json:"metadata"`
	PayloadBase64 *string           `json:"payload_base64,omitempty"`
}

// NewExportEntry returns e in its exported form:
//
//   - Payload: the payload as JSON (compacted, HTML-escaped by
//     encoding/json; a payload that is not JSON as a JSON string);
//   - Metadata: the stored metadata keys but "name", which Type and
//     Version spell; "name" too when they do not spell it exactly;
//   - PayloadBase64: the payload's exact bytes, only when Payload does
//     not carry them (not JSON, not compact, or with <, >, &, U+2028 or
//     U+2029 unescaped). hookd's own events never need it.
func NewExportEntry(e Entry) ExportEntry {
	md := maps.Clone(e.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	delete(md, MetaSeq)
	if name, ok := md[MetaName]; ok && e.Type() != "" && e.Type()+".v"+strconv.Itoa(e.Version()) == name {
		delete(md, MetaName)
	}
	out := ExportEntry{
		Seq: e.Seq, ID: e.UUID, Type: e.Type(), Version: e.Version(), Time: e.Time.UTC(),
		Hash: hex.EncodeToString(e.Hash[:]), PrevHash: hex.EncodeToString(e.PrevHash[:]),
		Metadata: md,
	}
	// Marshalling a RawMessage validates, compacts and escapes it, as
	// marshalling the line will: what it gives is what a reader gets.
	payload, err := json.Marshal(json.RawMessage(e.Payload))
	if err != nil {
		payload, _ = json.Marshal(string(e.Payload))
	}
	out.Payload = payload
	if err != nil || !bytes.Equal(payload, e.Payload) {
		b64 := base64.StdEncoding.EncodeToString(e.Payload)
		out.PayloadBase64 = &b64
	}
	return out
}

// AppendExportJSON appends e's exported form as one line of JSON, newline
// included, to dst.
func AppendExportJSON(dst []byte, e Entry) ([]byte, error) {
	b, err := json.Marshal(NewExportEntry(e))
	if err != nil {
		return dst, fmt.Errorf("encode entry %d: %w", e.Seq, err)
	}
	dst = append(dst, b...)
	return append(dst, '\n'), nil
}

// exportLine is ExportEntry as ParseExportJSON reads it: every field it
// needs told apart from a missing one.
type exportLine struct {
	Seq           uint64             `json:"seq"`
	ID            *string            `json:"id"`
	Type          string             `json:"type"`
	Version       int                `json:"version"`
	Time          *time.Time         `json:"time"`
	Payload       json.RawMessage    `json:"payload"`
	Hash          string             `json:"hash"`
	PrevHash      string             `json:"prev_hash"`
	Metadata      *map[string]string `json:"metadata"`
	PayloadBase64 *string            `json:"payload_base64"`
}

// ParseExportJSON turns one exported line (without its newline) back into
// the entry it was, with everything its hash covers (Seq, UUID, Time,
// Metadata with MetaName, Payload) and the Hash and PrevHash the line
// claims, which it does not check: a ChainChecker does. It refuses
// anything it cannot rebuild exactly: unknown or missing fields, more
// than one value, hashes that are not 32 bytes of hex, a line from a
// hookd that did not export metadata yet.
func ParseExportJSON(b []byte) (Entry, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return Entry{}, fmt.Errorf("empty line, not an entry")
	}
	var j exportLine
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Entry{}, fmt.Errorf("not an exported entry: %v", err)
	}
	if dec.More() {
		return Entry{}, fmt.Errorf("more than one JSON value on the line")
	}
	switch {
	case j.Seq == 0:
		return Entry{}, fmt.Errorf("no seq")
	case j.ID == nil:
		return Entry{}, fmt.Errorf("entry %d has no id", j.Seq)
	case j.Time == nil:
		return Entry{}, fmt.Errorf("entry %d has no time", j.Seq)
	case j.Metadata == nil:
		return Entry{}, fmt.Errorf("entry %d has no metadata: the export was made by a hookd from before hookd log import, "+
			"and lacks what the hashes cover; export the log again with this version", j.Seq)
	case j.Payload == nil && j.PayloadBase64 == nil:
		return Entry{}, fmt.Errorf("entry %d has no payload", j.Seq)
	}
	e := Entry{Seq: j.Seq, UUID: *j.ID, Time: *j.Time, Metadata: *j.Metadata, Payload: j.Payload}
	for _, h := range []struct {
		name string
		hex  string
		dst  *[HashSize]byte
	}{{"hash", j.Hash, &e.Hash}, {"prev_hash", j.PrevHash, &e.PrevHash}} {
		raw, err := hex.DecodeString(h.hex)
		if err != nil || len(raw) != HashSize {
			return Entry{}, fmt.Errorf("entry %d: %s %q is not %d bytes of hex", j.Seq, h.name, h.hex, HashSize)
		}
		copy(h.dst[:], raw)
	}
	if j.PayloadBase64 != nil {
		p, err := base64.StdEncoding.DecodeString(*j.PayloadBase64)
		if err != nil {
			return Entry{}, fmt.Errorf("entry %d: payload_base64 is not base64: %v", j.Seq, err)
		}
		e.Payload = p
	}
	// The name is in the hash: type and version spell it, unless the
	// export had to write it in the metadata (see NewExportEntry).
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	if name, ok := e.Metadata[MetaName]; ok {
		named := Entry{Metadata: map[string]string{MetaName: name}}
		if named.Type() != j.Type || named.Version() != j.Version {
			return Entry{}, fmt.Errorf("entry %d: type %q and version %d do not match the name %q in its metadata", j.Seq, j.Type, j.Version, name)
		}
	} else if j.Type != "" {
		e.Metadata[MetaName] = j.Type + ".v" + strconv.Itoa(j.Version)
	}
	return e, nil
}

// ChainChecker checks a run of entries given with their fields (as
// ParseExportJSON returns them), in order, the way Import does: each the
// next sequence, each linked to the one before, each carrying the hash its
// own fields encode to, exactly as an Append would have stored it. It
// trusts nothing the entries claim: `hookd log verify --server` checks a
// served log with it.
type ChainChecker struct {
	next uint64
	prev [HashSize]byte
	buf  []byte
}

// NewChainChecker returns a checker whose first entry must be from and
// link to prev (32 zero bytes for from 1).
func NewChainChecker(from uint64, prev [HashSize]byte) *ChainChecker {
	return &ChainChecker{next: max(from, 1), prev: prev}
}

// Next is the sequence the next entry must have.
func (c *ChainChecker) Next() uint64 { return c.next }

// LastHash is the hash of the last entry checked (prev before any).
func (c *ChainChecker) LastHash() [HashSize]byte { return c.prev }

// Check checks e and, if it holds, moves on to the next. A broken link is
// a *BrokenLink error; after one, the checker stays where it was.
func (c *ChainChecker) Check(e Entry) error {
	var err *BrokenLink
	c.buf, err = c.check(c.buf[:0], e)
	if err != nil {
		return err
	}
	return nil
}

// check is Check that also returns e's stored form, appended to dst.
func (c *ChainChecker) check(dst []byte, e Entry) ([]byte, *BrokenLink) {
	want := c.next
	broken := func(kind BreakKind, format string, args ...any) ([]byte, *BrokenLink) {
		return dst, &BrokenLink{Seq: e.Seq, Kind: kind, Reason: kind.String() + ": " + fmt.Sprintf(format, args...)}
	}
	switch {
	case e.Seq == want+1:
		return dst, &BrokenLink{Seq: e.Seq, Kind: BreakGap, Reason: fmt.Sprintf("entry %d follows entry %d: entry %d is missing", e.Seq, want-1, want)}
	case e.Seq > want:
		return dst, &BrokenLink{Seq: e.Seq, Kind: BreakGap, Reason: fmt.Sprintf("entry %d follows entry %d: entries %d to %d are missing", e.Seq, want-1, want, e.Seq-1)}
	case e.Seq != want:
		return dst, &BrokenLink{Seq: e.Seq, Kind: BreakGap, Reason: fmt.Sprintf("entry %d follows entry %d: out of order", e.Seq, want-1)}
	case e.PrevHash != c.prev && want == 1:
		return broken(BreakPrevHash, "the first entry links to %x, want 32 zero bytes", e.PrevHash)
	case e.PrevHash != c.prev:
		return broken(BreakPrevHash, "the entry links to %x, but entry %d's hash is %x", e.PrevHash, e.Seq-1, c.prev)
	}
	val, sum := encodeEntry(dst, e.Seq, c.prev, e.UUID, e.Time, e.Metadata, e.Payload)
	if sum != e.Hash {
		return broken(BreakHash, "the entry's fields hash to %x, but its hash is %x (the entry was changed)", sum, e.Hash)
	}
	c.prev = e.Hash
	c.next++
	return val, nil
}

// Error makes a BrokenLink an error (ChainChecker returns one).
func (b *BrokenLink) Error() string { return fmt.Sprintf("entry %d: %s", b.Seq, b.Reason) }
