package natslog

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// streamFor returns the stream and subject prefix of a topic other than
// eventlog.Topic: the stream's name is the main stream's plus the topic
// made safe and a hash of it (two topics never share one), and its
// subjects are the stream's name, a single token no other stream uses.
func streamFor(mainStream, topic string) (stream, subjectPrefix string) {
	sum := sha256.Sum256([]byte(topic))
	safe := make([]byte, 0, 32)
	for i := 0; i < len(topic) && len(safe) < 32; i++ {
		c := topic[i]
		if isNameByte(c) {
			safe = append(safe, c)
		} else {
			safe = append(safe, '_')
		}
	}
	name := mainStream + "_" + string(safe) + "_" + hex.EncodeToString(sum[:6])
	return name, name
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func validStreamName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func validSubjectPrefix(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if !validStreamName(tok) {
			return false
		}
	}
	return true
}

// subjectFor returns the subject a message with wire name name is
// published on: prefix.name, with every byte a subject may not hold
// replaced by '_' and empty tokens filled, so consumers can filter by
// event type (hookd.events.delivery.requested.v1).
func subjectFor(prefix, name string) string {
	var b strings.Builder
	b.Grow(len(prefix) + 1 + len(name) + 1)
	b.WriteString(prefix)
	b.WriteByte('.')
	if name == "" {
		b.WriteByte('_')
		return b.String()
	}
	tokenStart := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if tokenStart {
				b.WriteByte('_')
			}
			b.WriteByte('.')
			tokenStart = true
			continue
		case isNameByte(c):
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
		tokenStart = false
	}
	if tokenStart {
		b.WriteByte('_')
	}
	return b.String()
}
