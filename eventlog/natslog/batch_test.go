package natslog_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/natstest"
	"github.com/hookd/hookd/internal/testkit"
)

// batchFacts pins what the writer relies on in JetStream's atomic batch
// publish (nats-server 2.15, jetstream_batching.go), on one server and on
// a cluster alike: message ids are allowed; a known id fails the whole
// batch (10201) before the expected sequence is checked, and the answer
// does not say where the id is stored; a stale expected sequence fails
// it (10071); a plain publish of a known id is acknowledged as a
// duplicate with its sequence.
func batchFacts(t *testing.T, url string, replicas int) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FACTS", Subjects: []string{"facts.>"}, Replicas: replicas, AllowAtomicPublish: true}); err != nil {
		t.Fatal(err)
	}
	batch := func(last uint64, ids ...string) (*jetstreamext.BatchAck, error) {
		var ms []*nats.Msg
		for i, id := range ids {
			m := nats.NewMsg("facts.x")
			m.Header.Set(jetstream.MsgIDHeader, id)
			if i == 0 {
				m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(last, 10))
			}
			ms = append(ms, m)
		}
		return jetstreamext.PublishMsgBatch(ctx, js, ms, jetstreamext.BatchFlowControl{})
	}
	code := func(err error) jetstream.ErrorCode {
		if ae, ok := err.(*jetstream.APIError); ok {
			return ae.ErrorCode
		}
		return 0
	}
	a, b, c := uuid.NewString(), uuid.NewString(), uuid.NewString()
	// On a cluster, a stream just created may have no server listening on
	// its subjects for a moment: nothing is stored then, so ask again.
	var ack *jetstreamext.BatchAck
	testkit.WaitUntil(t, 10*time.Second, "the new stream to take publishes", func() bool {
		ack, err = batch(0, a, b)
		return !errors.Is(err, nats.ErrNoResponders)
	})
	if err != nil || ack.Sequence != 2 || ack.BatchSize != 2 {
		t.Fatalf("batch with ids = %+v, %v; want stored at 1 and 2", ack, err)
	}
	if _, err := batch(0, a, b); code(err) != jetstreamext.JSErrCodeBatchPublishDuplicateMsgID {
		t.Fatalf("the batch again, expecting a stale head: %v; want 10201 (ids are checked first)", err)
	}
	if _, err := batch(2, c, b); code(err) != jetstreamext.JSErrCodeBatchPublishDuplicateMsgID {
		t.Fatalf("a batch whose second id is known: %v; want 10201", err)
	}
	if _, err := batch(1, c, uuid.NewString()); code(err) != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("new ids on a stale head: %v; want 10071", err)
	}
	s, err := js.Stream(ctx, "FACTS")
	if err != nil || s.CachedInfo().State.LastSeq != 2 {
		t.Fatalf("after the refused batches the stream's last sequence is %d (%v), want 2: all or nothing", s.CachedInfo().State.LastSeq, err)
	}
	if ack, err := js.Publish(ctx, "facts.x", nil, jetstream.WithMsgID(b), jetstream.WithExpectLastSequence(2)); err != nil || !ack.Duplicate || ack.Sequence != 2 {
		t.Fatalf("plain publish of a known id = %+v, %v; want a duplicate of 2", ack, err)
	}
}

func TestAtomicBatchFactsOnOneServer(t *testing.T) { batchFacts(t, natstest.RunServer(t).URL, 1) }
func TestAtomicBatchFactsOnCluster(t *testing.T) {
	t.Parallel()
	batchFacts(t, natstest.RunCluster(t).URL(), 3)
}

// TestRetriedBatchFromOtherLogGetsFirstSequences: an append of several
// messages stored by one process is retried by another whose view of the
// head is stale (say, after taking over from it): the retry's batch fails
// on the known ids, its messages go one at a time, and it is answered
// with the first attempt's sequences; the log holds them once.
func TestRetriedBatchFromOtherLogGetsFirstSequences(t *testing.T) {
	srv := natstest.RunServer(t)
	cfg := freshConfig(srv.URL)
	a, b := openLog(t, cfg), openLog(t, cfg)
	ctx := t.Context()
	if _, err := b.Append(ctx, eventlog.Topic, newMsg()); err != nil {
		t.Fatal(err)
	}
	ms := []eventlog.AppendMessage{newMsg(), newMsg(), newMsg()}
	first, err := a.Append(ctx, eventlog.Topic, ms...)
	if err != nil {
		t.Fatal(err)
	}
	// b's writer still links to entry 1; and one new message rides along.
	again, err := b.Append(ctx, eventlog.Topic, append(ms, newMsg())...)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	for i := range first {
		if again[i] != first[i] {
			t.Fatalf("retry answered %v, the first attempt %v", again, first)
		}
	}
	if again[3] != first[2]+1 {
		t.Fatalf("the new message went to %d, want %d", again[3], first[2]+1)
	}
	rep, err := eventlog.Verify(ctx, b, eventlog.Topic, nil)
	if err != nil || !rep.OK() || rep.Checked != 5 {
		t.Fatalf("Verify = %+v, %v; want 5 intact entries", rep, err)
	}
	// And the writer batches again afterwards.
	if seqs, err := b.Append(ctx, eventlog.Topic, newMsg(), newMsg()); err != nil || seqs[0] != 6 || seqs[1] != 7 {
		t.Fatalf("append after the retry = %v, %v; want [6 7]", seqs, err)
	}
}
