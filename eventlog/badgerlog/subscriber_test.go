package badgerlog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

func newSubscriber(t *testing.T, store *badgerlog.Store, cfg eventlog.SubscriberConfig) *eventlog.Subscriber {
	t.Helper()
	sub, err := eventlog.NewSubscriber(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// expectSeq checks that m is the message published as want and carries
// its sequence in the "seq" metadata.
func expectSeq(t *testing.T, m *message.Message, want *message.Message, seq int) {
	t.Helper()
	if m.UUID != want.UUID || string(m.Payload) != string(want.Payload) {
		t.Fatalf("got message %s %q, want %s %q", m.UUID, m.Payload, want.UUID, want.Payload)
	}
	if got := m.Metadata.Get(eventlog.MetaSeq); got != fmt.Sprint(seq) {
		t.Fatalf("message %s: seq metadata %q, want %d", m.UUID, got, seq)
	}
	if got := m.Metadata.Get(eventlog.MetaName); got != want.Metadata.Get(eventlog.MetaName) {
		t.Fatalf("message %s: name metadata %q, want %q", m.UUID, got, want.Metadata.Get(eventlog.MetaName))
	}
}

// TestConsumerGroupResumesAfterRestart: a group that acknowledged 4 of 10
// resumes at the 5th after its subscriber and the Store are closed and the
// Store reopened; another group and the empty group read all 10.
func TestConsumerGroupResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	published := publishN(t, store, "ev", 10)

	sub := newSubscriber(t, store, eventlog.SubscriberConfig{ConsumerGroup: "g"})
	ch, err := sub.Subscribe(testContext(t), eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		m := recv(t, ch)
		expectSeq(t, m, published[i], i+1)
		m.Ack()
	}
	// Close right after the last Ack: the acknowledgement must still count.
	if err := sub.Close(); err != nil {
		t.Fatalf("Subscriber.Close: %v", err)
	}
	// Close waits for the subscription to end; its channel is unbuffered,
	// so nothing is left in it.
	if m, ok := <-ch; ok {
		t.Fatalf("got %s after Subscriber.Close returned, want a closed channel", m.UUID)
	}
	if err := store.Close(); err != nil {
		t.Fatalf("Store.Close: %v", err)
	}

	store = openStore(t, dir)
	defer store.Close()
	if off, err := store.Offset(eventlog.Topic, "g"); err != nil || off != 4 {
		t.Fatalf("Offset(g) after reopen = %d, %v; want 4", off, err)
	}

	sub = newSubscriber(t, store, eventlog.SubscriberConfig{ConsumerGroup: "g"})
	defer sub.Close()
	ch, err = sub.Subscribe(testContext(t), eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}
	for i := 4; i < 10; i++ {
		m := recv(t, ch)
		expectSeq(t, m, published[i], i+1)
		m.Ack()
	}

	for _, group := range []string{"other", ""} {
		t.Run(fmt.Sprintf("group=%q", group), func(t *testing.T) {
			sub := newSubscriber(t, store, eventlog.SubscriberConfig{ConsumerGroup: group})
			defer sub.Close()
			ch, err := sub.Subscribe(testContext(t), eventlog.Topic)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				m := recv(t, ch)
				expectSeq(t, m, published[i], i+1)
				m.Ack()
			}
		})
	}
	if off, err := store.Offset(eventlog.Topic, ""); err != nil || off != 0 {
		t.Fatalf("the empty group stored an offset: %d, %v", off, err)
	}
}

// TestNackRedeliversSameMessage: a nacked message comes back with the same
// UUID, payload and seq, and the group's offset does not move past it
// until it is acknowledged.
func TestNackRedeliversSameMessage(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	published := publishN(t, store, "ev", 3)

	sub := newSubscriber(t, store, eventlog.SubscriberConfig{ConsumerGroup: "g", NackResendDelay: time.Millisecond, CommitEvery: 1})
	defer sub.Close()
	ch, err := sub.Subscribe(testContext(t), eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}

	first := recv(t, ch)
	expectSeq(t, first, published[0], 1)
	first.Ack()

	for range 3 {
		m := recv(t, ch)
		expectSeq(t, m, published[1], 2)
		m.Nack()
		if off, err := store.Offset(eventlog.Topic, "g"); err != nil || off != 1 {
			t.Fatalf("Offset after Nack = %d, %v; want 1", off, err)
		}
	}
	again := recv(t, ch)
	expectSeq(t, again, published[1], 2)
	again.Ack()

	// The third arrives only after the second's ack was recorded.
	third := recv(t, ch)
	expectSeq(t, third, published[2], 3)
	if off, err := store.Offset(eventlog.Topic, "g"); err != nil || off != 2 {
		t.Fatalf("Offset after acking seq 2 = %d, %v; want 2", off, err)
	}
}

// TestAckThenCloseKeepsOffset: an Ack made before Subscriber.Close always
// moves the group's offset, even when the subscription sees the close
// before it has looked at the ack. Many short rounds, each letting the
// subscriber block on its hand-over first, where the two race.
func TestAckThenCloseKeepsOffset(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	publishN(t, store, "ev", 1)

	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	for i := range rounds {
		group := fmt.Sprintf("g%d", i)
		sub := newSubscriber(t, store, eventlog.SubscriberConfig{ConsumerGroup: group})
		ch, err := sub.Subscribe(testContext(t), eventlog.Topic)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond) // let the subscriber block on its send
		recv(t, ch).Ack()
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
		if off, err := store.Offset(eventlog.Topic, group); err != nil || off != 1 {
			t.Fatalf("round %d: Offset after Ack then Close = %d, %v; want 1 (the ack was lost)", i, off, err)
		}
	}
}

// TestOffsetsAreBatchedButNeverLost: with acknowledgements batched, the
// offset lags while entries keep coming, and is written when the
// subscription goes idle, so a new subscription of the group resumes right
// after the last acknowledged entry.
func TestOffsetsAreBatchedButNeverLost(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	publishN(t, store, "ev", 10)

	sub := newSubscriber(t, store, eventlog.SubscriberConfig{ConsumerGroup: "g", CommitEvery: 4})
	ch, err := sub.Subscribe(testContext(t), eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		recv(t, ch).Ack()
	}
	// Idle now: the tenth ack is written before the subscriber waits.
	deadline := time.Now().Add(5 * time.Second)
	for {
		off, err := store.Offset(eventlog.Topic, "g")
		if err != nil {
			t.Fatal(err)
		}
		if off == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offset = %d after 10 acks and going idle; want 10", off)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
}
