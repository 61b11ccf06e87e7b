package natslog

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// offsetKey is the offsets bucket's key of (topic, group): both in
// unpadded URL base64, whose alphabet KV keys allow.
func offsetKey(topic, group string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(topic)) + "." + enc.EncodeToString([]byte(group))
}

// Offset returns group's last acknowledged sequence in topic (0: none),
// from the offsets bucket <Stream>_offsets.
func (l *Log) Offset(topic, group string) (uint64, error) {
	if err := validTopic(topic); err != nil {
		return 0, err
	}
	ctx, cancel := contextTimeout(l.cfg.PublishTimeout)
	defer cancel()
	e, err := l.kv.Get(ctx, offsetKey(topic, group))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("natslog: read the offset of group %q on %s: %w", group, topic, err)
	}
	off, err := strconv.ParseUint(string(e.Value()), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("natslog: the offset of group %q on %s is %q, not a sequence", group, topic, e.Value())
	}
	return off, nil
}

// CommitOffset stores seq as group's offset in topic; it returns once the
// bucket's stream has acknowledged it.
func (l *Log) CommitOffset(topic, group string, seq uint64) error {
	if err := validTopic(topic); err != nil {
		return err
	}
	ctx, cancel := contextTimeout(l.cfg.PublishTimeout)
	defer cancel()
	if _, err := l.kv.Put(ctx, offsetKey(topic, group), strconv.AppendUint(nil, seq, 10)); err != nil {
		return fmt.Errorf("natslog: commit offset %d of group %q on %s: %w", seq, group, topic, err)
	}
	return nil
}
