package natslog_test

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/natstest"
)

// TestThroughput logs append and read rates on the embedded server, for
// comparison between changes; it asserts none of them.
func TestThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("measures, asserts nothing")
	}
	srv := natstest.RunServer(t)
	cfg := freshConfig(srv.URL)
	l := openLog(t, cfg)
	ctx := t.Context()
	const n, writers = 8192, 64
	payload := make([]byte, 512)

	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range n / writers {
				m := newMsg()
				m.Payload = payload
				if _, err := l.Append(ctx, eventlog.Topic, m); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	t.Logf("append: %d entries of %d bytes from %d goroutines in %v: %.0f/s", n, len(payload), writers, d, n/d.Seconds())

	start = time.Now()
	for range 256 {
		if _, err := l.Append(ctx, eventlog.Topic, newMsg()); err != nil {
			t.Fatal(err)
		}
	}
	d = time.Since(start)
	t.Logf("append: 256 entries one after another in %v: %.0f/s", d, 256/d.Seconds())

	start = time.Now()
	es, err := l.ReadBatch(ctx, eventlog.Topic, 1, n)
	if err != nil || len(es) != n {
		t.Fatalf("ReadBatch: %d, %v", len(es), err)
	}
	d = time.Since(start)
	t.Logf("read: ReadBatch (batched direct get) of %d entries in %v: %.0f/s", n, d, n/d.Seconds())

	// The alternative: an ordered consumer from seq 1, fetched at once.
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	start = time.Now()
	cons, err := js.OrderedConsumer(ctx, cfg.Stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < n {
		batch, err := cons.Fetch(n-got, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			if _, err := eventlog.UnmarshalEntry(md.Sequence.Stream, m.Data()); err != nil {
				t.Fatal(err)
			}
			got++
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	d = time.Since(start)
	t.Logf("read: ordered consumer Fetch of %d entries in %v: %.0f/s", n, d, n/d.Seconds())

	start = time.Now()
	if es, err := l.ReadBatch(ctx, eventlog.Topic, 1, n); err != nil || len(es) != n {
		t.Fatalf("ReadBatch: %d, %v", len(es), err)
	}
	d = time.Since(start)
	t.Logf("read: ReadBatch again, after the consumer: %d entries in %v: %.0f/s", n, d, n/d.Seconds())
}
