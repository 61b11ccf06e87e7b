package natslog_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/natstest"
	"github.com/hookd/hookd/internal/testkit"
)

// dedupOrder publishes message id X twice, the second time with an
// expected last sequence that is no longer true, and reports what the
// stream answered to the second: a duplicate ack, or the expected
// sequence's refusal.
func dedupOrder(t *testing.T, url string, replicas int) (ack *jetstream.PubAck, err error) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DEDUP", Subjects: []string{"dedup.>"}, Replicas: replicas}); err != nil {
		t.Fatal(err)
	}
	x := uuid.NewString()
	// On a cluster, a stream just created may have no server listening on
	// its subjects for a moment: nothing is stored then, so ask again.
	testkit.WaitUntil(t, 10*time.Second, "the new stream to take publishes", func() bool {
		_, err = js.Publish(ctx, "dedup.a", []byte("x"), jetstream.WithMsgID(x), jetstream.WithExpectLastSequence(0))
		return !errors.Is(err, nats.ErrNoResponders)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "dedup.a", []byte("y"), jetstream.WithMsgID(uuid.NewString()), jetstream.WithExpectLastSequence(1)); err != nil {
		t.Fatal(err)
	}
	// X again, built on head 1 as a writer that did not learn of its
	// first publish's ack would.
	return js.Publish(ctx, "dedup.a", []byte("x"), jetstream.WithMsgID(x), jetstream.WithExpectLastSequence(1))
}

// TestJetStreamChecksExpectedSequenceBeforeDedupOnOneServer pins what a
// single server does with a known message id and a wrong expected last
// sequence: it refuses on the sequence (the dedup check comes later, in
// stream.go's processJetStreamMsg), so the writer rereads the head,
// publishes again and only then gets the duplicate ack.
func TestJetStreamChecksExpectedSequenceBeforeDedupOnOneServer(t *testing.T) {
	srv := natstest.RunServer(t)
	ack, err := dedupOrder(t, srv.URL, 1)
	var ae *jetstream.APIError
	if !errors.As(err, &ae) || ae.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("known id with a wrong expected sequence on one server: ack %+v, err %v; want wrong last sequence", ack, err)
	}
}

// TestJetStreamDedupsBeforeExpectedSequenceOnCluster pins the clustered
// order, the other way round: the leader checks message ids before the
// expected sequence (jetstream_batching.go,
// checkMsgHeadersPreClusteredProposal) and answers with the duplicate.
func TestJetStreamDedupsBeforeExpectedSequenceOnCluster(t *testing.T) {
	c := natstest.RunCluster(t)
	ack, err := dedupOrder(t, c.URL(), 3)
	if err != nil || !ack.Duplicate || ack.Sequence != 1 {
		t.Fatalf("known id with a wrong expected sequence on a cluster: ack %+v, err %v; want a duplicate of 1", ack, err)
	}
}

// TestRetriedAppendIsNotStoredTwice appends an event, as if a first
// attempt had been stored but its ack lost, while the writer's view of
// the head is stale: the retry is answered with the first attempt's
// sequence, and the log holds the event once.
func TestRetriedAppendIsNotStoredTwice(t *testing.T) {
	srv := natstest.RunServer(t)
	cfg := freshConfig(srv.URL)
	a, b := openLog(t, cfg), openLog(t, cfg)
	ctx := t.Context()
	if _, err := a.Append(ctx, eventlog.Topic, newMsg()); err != nil {
		t.Fatal(err)
	}
	// b links its writer's view to entry 1.
	if _, err := b.Append(ctx, eventlog.Topic, newMsg()); err != nil {
		t.Fatal(err)
	}
	// The "first attempt": a stores m at 3; b does not know.
	m := newMsg()
	first, err := a.Append(ctx, eventlog.Topic, m)
	if err != nil {
		t.Fatal(err)
	}
	// The retry, from b, whose writer expects head 2: refused on the
	// sequence, relinked to 3, then deduplicated.
	again, err := b.Append(ctx, eventlog.Topic, m)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if again[0] != first[0] {
		t.Fatalf("retry returned %d, the first attempt %d", again[0], first[0])
	}
	// And from a, whose writer's head is right: deduplicated at once.
	if again, err := a.Append(ctx, eventlog.Topic, m, newMsg()); err != nil || again[0] != first[0] || again[1] != first[0]+1 {
		t.Fatalf("retry with a new message after it = %v, %v; want [%d %d]", again, err, first[0], first[0]+1)
	}
	es, err := a.ReadBatch(ctx, eventlog.Topic, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 4 {
		t.Fatalf("the log holds %d entries, want 4", len(es))
	}
	chain := eventlog.NewChainChecker(1, [eventlog.HashSize]byte{})
	for _, e := range es {
		if err := chain.Check(e); err != nil {
			t.Fatal(err)
		}
	}
}

func newMsg() eventlog.AppendMessage {
	return eventlog.AppendMessage{UUID: uuid.NewString(), Metadata: map[string]string{eventlog.MetaName: "test.dedup.v1"}, Payload: []byte("{}")}
}

// TestStreamLimitRefusesAppendsSayingWhich fills a stream limited to 3
// messages: the fourth append is refused with JetStream's words and what
// to do, wrapping ErrUnavailable, and nothing is appended or removed.
func TestStreamLimitRefusesAppendsSayingWhich(t *testing.T) {
	srv := natstest.RunServer(t)
	cfg := freshConfig(srv.URL)
	cfg.MaxMsgs = 3
	l := openLog(t, cfg)
	ctx := t.Context()
	if _, err := l.Append(ctx, eventlog.Topic, newMsg(), newMsg(), newMsg()); err != nil {
		t.Fatal(err)
	}
	_, err := l.Append(ctx, eventlog.Topic, newMsg())
	if !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("append past the limit: %v, want ErrUnavailable", err)
	}
	t.Logf("refusal: %v", err)
	for _, want := range []string{"the stream " + cfg.Stream + " refused the append", "maximum messages exceeded", "raise the stream's limit"} {
		if !contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	es, err := l.ReadBatch(ctx, eventlog.Topic, 1, 10)
	if err != nil || len(es) != 3 {
		t.Fatalf("after the refusal the log holds %d entries (%v), want 3", len(es), err)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestLostServerMakesLogUnavailable stops the server: Writable says the
// log is unavailable, and an append's outcome is unknown (ErrUnavailable).
func TestLostServerMakesLogUnavailable(t *testing.T) {
	srv := natstest.RunServer(t)
	cfg := freshConfig(srv.URL)
	cfg.PublishTimeout = 300 * time.Millisecond
	disconnected := make(chan struct{}, 1)
	cfg.Options = []nats.Option{nats.DisconnectErrHandler(func(*nats.Conn, error) {
		select {
		case disconnected <- struct{}{}:
		default:
		}
	})}
	l := openLog(t, cfg)
	if _, err := l.Append(t.Context(), eventlog.Topic, newMsg()); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	<-disconnected
	if err := l.Writable(); !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Writable without a server: %v, want ErrUnavailable", err)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("Err without a server: %v, want nil (not a sticky failure)", err)
	}
	if _, err := l.Append(t.Context(), eventlog.Topic, newMsg()); !errors.Is(err, eventlog.ErrUnavailable) {
		t.Fatalf("Append without a server: %v, want ErrUnavailable", err)
	}
}

// TestGroupOffsetsAreSharedAndDurable commits an offset through one Log
// and reads it through another, as another process would.
func TestGroupOffsetsAreSharedAndDurable(t *testing.T) {
	srv := natstest.RunServer(t)
	cfg := freshConfig(srv.URL)
	a, b := openLog(t, cfg), openLog(t, cfg)
	if off, err := a.Offset(eventlog.Topic, "g/1 ü"); err != nil || off != 0 {
		t.Fatalf("Offset of a new group = %d, %v; want 0", off, err)
	}
	if err := a.CommitOffset(eventlog.Topic, "g/1 ü", 42); err != nil {
		t.Fatal(err)
	}
	if off, err := b.Offset(eventlog.Topic, "g/1 ü"); err != nil || off != 42 {
		t.Fatalf("Offset through the other Log = %d, %v; want 42", off, err)
	}
	if off, err := b.Offset("other.topic", "g/1 ü"); err != nil || off != 0 {
		t.Fatalf("Offset of the group in another topic = %d, %v; want 0", off, err)
	}
}
