package badgerlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

// waitLimit bounds every wait in these tests; nothing legitimately takes
// this long, so hitting it means a hang, not a slow machine.
const waitLimit = 10 * time.Second

func openStore(t *testing.T, dir string) *badgerlog.Store {
	t.Helper()
	s, err := badgerlog.Open(dir, badgerlog.Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// newMsg returns a message with a wire name and a payload derived from id.
func newMsg(id string) *message.Message {
	m := message.NewMessage(id, payloadFor(id))
	m.Metadata.Set(eventlog.MetaName, "test.appended.v1")
	return m
}

// payloadFor is the payload the tests store for a UUID, so a reader can
// check an entry's payload from its UUID alone. Sizes vary with the id.
func payloadFor(id string) []byte {
	pad := make([]byte, len(id)*3%97)
	for i := range pad {
		pad[i] = 'a' + byte(i%26)
	}
	return fmt.Appendf(nil, `{"id":%q,"pad":%q}`, id, pad)
}

// publishN appends n messages with UUIDs prefix-1..prefix-n and returns them.
func publishN(t *testing.T, store *badgerlog.Store, prefix string, n int) []*message.Message {
	t.Helper()
	pub := eventlog.NewPublisher(store)
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = newMsg(fmt.Sprintf("%s-%d", prefix, i+1))
		if err := pub.Publish(eventlog.Topic, msgs[i]); err != nil {
			t.Fatalf("Publish #%d: %v", i+1, err)
		}
	}
	return msgs
}

// recv waits for the next message, failing the test on a closed channel
// or after waitLimit.
func recv(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription channel closed, want a message")
		}
		return m
	case <-time.After(waitLimit):
		t.Fatal("no message within the wait limit")
	}
	return nil
}

func readAll(t *testing.T, store *badgerlog.Store) []eventlog.Entry {
	t.Helper()
	var out []eventlog.Entry
	r := eventlog.NewReader(store, eventlog.Topic, 1)
	for r.Next(testContext(t)) {
		out = append(out, r.Entry())
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Reader: %v", err)
	}
	return out
}
