package badgerlog_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

// TestUniversalPubSub runs Watermill's own Pub/Sub suite over the Badger
// log with the features it claims.
func TestUniversalPubSub(t *testing.T) {
	store, err := badgerlog.Open(t.TempDir(), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })

	newPubSub := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		sub, err := eventlog.NewSubscriber(store, eventlog.SubscriberConfig{ConsumerGroup: group})
		if err != nil {
			t.Fatal(err)
		}
		return eventlog.NewPublisher(store), sub
	}
	tests.TestPubSub(
		t,
		tests.Features{
			ConsumerGroups:                   true,
			GuaranteedOrder:                  true,
			Persistent:                       true,
			NewSubscriberReceivesOldMessages: true,
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) { return newPubSub(t, "") },
		newPubSub,
	)
}
