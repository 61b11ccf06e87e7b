package badgerlog_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

// BenchmarkAppend publishes one event per operation from many goroutines
// at once, as the API's handlers and the dispatcher's workers do, so group
// commit can batch them; each Publish returns once its event is fsynced.
//
//	go test -run='^$' -bench=Append -benchmem ./eventlog/
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		size  int
		keyed bool
	}{{100, false}, {2048, false}, {2048, true}} {
		size := c.size
		name := fmt.Sprintf("payload=%dB", size)
		if c.keyed {
			name += "/unique-key" // a build event's (eventlog.MetaUnique): one index read per append
		}
		b.Run(name, func(b *testing.B) {
			store, err := badgerlog.Open(b.TempDir(), badgerlog.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = store.Close() })
			pub := eventlog.NewPublisher(store)
			// Same shape as hookbench's append: JSON with a unique id, padded.
			pad := strings.Repeat("0123456789abcdef", size/16+1)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			// 128 goroutines per CPU: enough concurrent appends to fill groups.
			b.SetParallelism(128)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := uuid.NewString()
					body := fmt.Appendf(nil, `{"event_id":%q,"app_slug":"bench","pad":"`, id)
					body = append(body, pad[:max(0, size-len(body)-2)]...)
					body = append(body, '"', '}')
					msg := message.NewMessage(id, body)
					msg.Metadata.Set(eventlog.MetaName, domain.NameBuildEventReceived)
					if c.keyed {
						msg.Metadata.Set(eventlog.MetaUnique, "build:"+id)
					}
					if err := pub.Publish(eventlog.Topic, msg); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
