package eventlog

import (
	"errors"
	"fmt"
	"strings"
)

// ErrImportRefused marks an import refused because of what it was given:
// an entry out of sequence, a broken hash link or a hash that its fields
// do not reproduce. An *ImportError says which entry.
var ErrImportRefused = errors.New("eventlog: import refused")

// ErrNotEmpty means Import was asked to write into a topic that already
// has entries.
var ErrNotEmpty = errors.New("eventlog: the topic already has entries")

// ImportError says which entry an import refused, and why.
type ImportError struct {
	Seq    uint64
	Reason string
}

func (e *ImportError) Error() string { return fmt.Sprintf("entry %d: %s", e.Seq, e.Reason) }

// Unwrap makes an ImportError match ErrImportRefused.
func (e *ImportError) Unwrap() error { return ErrImportRefused }

// ImportReport is what Import wrote: like a VerifyReport of the new log.
type ImportReport struct {
	Entries  uint64
	Head     uint64
	LastHash [HashSize]byte
}

// ImportChecker checks the entries of an import, in order, before an
// adapter writes them (Importer): each the next sequence from 1, linked to
// the previous entry's hash (32 zero bytes for the first) and carrying the
// hash its fields encode to, exactly as an Append would have stored it.
type ImportChecker struct {
	chain *ChainChecker
}

// NewImportChecker returns a checker for an import into an empty topic.
func NewImportChecker() *ImportChecker {
	return &ImportChecker{chain: NewChainChecker(1, [HashSize]byte{})}
}

// Check checks e and returns its stored form (MarshalEntry), in a new
// slice; a refusal is an *ImportError (matching ErrImportRefused).
func (c *ImportChecker) Check(e Entry) ([]byte, error) {
	if e.Seq != 1 && c.chain.Next() == 1 {
		return nil, &ImportError{Seq: e.Seq, Reason: fmt.Sprintf("the first entry is %d, not 1: a log starts at 1, and an export of part of one (--from) cannot be restored", e.Seq)}
	}
	if k, ok := e.Metadata[MetaUnique]; ok && (len(k) == 0 || len(k) > MaxUniqueKey) {
		return nil, &ImportError{Seq: e.Seq, Reason: fmt.Sprintf("its unique key (%s) is %d bytes: a unique key is 1 to %d bytes", MetaUnique, len(k), MaxUniqueKey)}
	}
	val, broken := c.chain.check(make([]byte, 0, entryMinLength+len(e.UUID)+len(e.Payload)+64), e)
	if broken != nil {
		return nil, &ImportError{Seq: broken.Seq, Reason: broken.Reason}
	}
	return val, nil
}

// ValidTopic says whether topic can name a topic (not empty, no NUL byte).
func ValidTopic(topic string) error { return validTopic(topic) }

func validTopic(topic string) error {
	if topic == "" || strings.IndexByte(topic, 0) >= 0 {
		return fmt.Errorf("eventlog: invalid topic %q", topic)
	}
	return nil
}
