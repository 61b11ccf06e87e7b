package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// probePublishes is how many publishes the JetStream probe times.
const probePublishes = 500

// probeJetStream times what one append costs on the network log without
// hookd: probePublishes acknowledged publishes, one at a time, of a
// ~600-byte message (a build event's size) to a file-backed stream of its
// own on the run's nats-server, over loopback, before hookd starts; then
// deletes the stream. It returns the p50 and p99 in ms.
func probeJetStream(ctx context.Context, url string) (p50, p99 float64, err error) {
	nc, err := nats.Connect(url, nats.Name("hookbench probe"))
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, 0, err
	}
	const stream = "HOOKBENCH_PROBE"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{"hookbench.probe"}, Storage: jetstream.FileStorage}); err != nil {
		return 0, 0, fmt.Errorf("create the probe stream: %w", err)
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), stream) }()
	body := buildBody(nil, "bench-probe", "probe-build", 1)
	for len(body) < 600 {
		body = append(body, ' ')
	}
	lat := make([]time.Duration, 0, probePublishes)
	for i := range probePublishes {
		t0 := time.Now()
		if _, err := js.Publish(ctx, "hookbench.probe", body, jetstream.WithMsgID(fmt.Sprintf("probe-%d", i))); err != nil {
			return 0, 0, fmt.Errorf("probe publish: %w", err)
		}
		lat = append(lat, time.Since(t0))
	}
	p50, p99, _ = percentiles(lat)
	return p50, p99, nil
}
