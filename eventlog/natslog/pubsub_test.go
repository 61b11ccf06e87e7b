package natslog_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/natstest"
)

// TestUniversalPubSub runs Watermill's own Pub/Sub suite over the
// JetStream log, through eventlog's Publisher and Subscriber, with the
// features the Badger log claims. The suite calls the constructors many
// times: they share one Log, as a process does.
func TestUniversalPubSub(t *testing.T) {
	srv := natstest.RunServer(t)
	l := openLog(t, freshConfig(srv.URL))
	newPubSub := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		sub, err := eventlog.NewSubscriber(l, eventlog.SubscriberConfig{ConsumerGroup: group})
		if err != nil {
			t.Fatal(err)
		}
		return eventlog.NewPublisher(l), sub
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
