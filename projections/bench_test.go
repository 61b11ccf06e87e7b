package projections_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/projections"
)

const (
	benchApp  = "bench-app"
	benchHook = "5a1c2f9e-7b1d-4c61-a1d3-6a9e2c7d8f00"
)

var benchStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// benchEntry is the log entry at seq holding ev.
func benchEntry(b *testing.B, seq uint64, ev domain.Event) eventlog.Entry {
	b.Helper()
	msg, err := eventlog.EncodeEvent(fmt.Sprintf("bench-%012d", seq), ev)
	if err != nil {
		b.Fatal(err)
	}
	return eventlog.Entry{Seq: seq, UUID: msg.UUID, Time: benchStart.Add(time.Duration(seq) * time.Millisecond),
		Metadata: map[string]string{eventlog.MetaName: ev.EventName()}, Payload: msg.Payload}
}

// benchHookEntry configures the hook the attempts are for, at seq 1.
func benchHookEntry(b *testing.B) eventlog.Entry {
	return benchEntry(b, 1, domain.HookConfigured{
		HookSlug: benchHook, AppSlug: benchApp, URL: "https://hooks.example.com/bitrise",
		Events: []string{domain.SelectAll}, Headers: map[string]string{"X-Team": "mobile"}, ConfiguredAt: benchStart,
	})
}

// benchAttempts returns n delivery attempts of the hook, as the
// dispatcher records them (a signed request, a 200 answer), at seqs from on.
func benchAttempts(b *testing.B, from uint64, n int) []eventlog.Entry {
	hook := domain.Hook{Slug: benchHook, AppSlug: benchApp, URL: "https://hooks.example.com/bitrise",
		Headers: map[string]string{"X-Team": "mobile"}}
	out := make([]eventlog.Entry, n)
	for i := range out {
		seq := from + uint64(i)
		at := benchStart.Add(time.Duration(seq) * time.Millisecond)
		pr := int64(seq%900 + 1)
		body := domain.BuildPayload{
			BuildSlug: fmt.Sprintf("build-%010d", seq), BuildNumber: int64(seq), AppSlug: benchApp, BuildStatus: 1,
			BuildTriggeredWorkflow: "primary",
			Git:                    domain.GitInfo{Provider: "github", SrcBranch: "feature/x", DstBranch: "main", PullRequestID: &pr},
		}.Body()
		id := fmt.Sprintf("00000000-0000-5000-8000-%012d", seq)
		out[i] = benchEntry(b, seq, domain.DeliveryAttempted{
			DeliveryID: id, HookSlug: benchHook, AppSlug: benchApp, BuildEventID: fmt.Sprintf("event-%d", seq),
			EventType: domain.EventBuildFinished,
			Request:   domain.BuildRequest(hook, domain.EventBuildFinished, body, id, at, domain.SigningSecrets{Current: "s3cret"}),
			Response: &domain.Response{Status: 200, Body: "ok", Headers: map[string][]string{
				"Content-Type": {"text/plain; charset=utf-8"}, "Date": {at.Format(http.TimeFormat)}, "Content-Length": {"2"}}},
			DurationMS: 12, AttemptedAt: at.Add(12 * time.Millisecond),
		})
	}
	return out
}

func benchViews(b *testing.B) *projections.Views {
	b.Helper()
	v, err := projections.OpenViews(filepath.Join(b.TempDir(), "views"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = v.Close() })
	if err := v.Apply([]eventlog.Entry{benchHookEntry(b)}); err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkApplyDeliveryAttempted folds delivery attempts into the views
// in batches, as the runner (1,024 a read) and Rebuild (8,192) do; one
// operation is one event.
//
//	go test -run='^$' -bench=ApplyDeliveryAttempted -benchmem ./projections/
func BenchmarkApplyDeliveryAttempted(b *testing.B) {
	for _, batch := range []int{1, 1024, 8192} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			views := benchViews(b)
			entries := benchAttempts(b, 2, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for len(entries) > 0 {
				n := min(batch, len(entries))
				if err := views.Apply(entries[:n]); err != nil {
					b.Fatal(err)
				}
				entries = entries[n:]
			}
		})
	}
}

// BenchmarkListDeliveryItems lists 50 items of a hook with 100,000: the
// first page, and page 1,000 through its anchor (one seek, like page 1).
//
//	go test -run='^$' -bench=ListDeliveryItems -benchmem ./projections/
func BenchmarkListDeliveryItems(b *testing.B) {
	const items, limit, deepPage = 100_000, 50, 1000
	views := benchViews(b)
	for from := 0; from < items; from += 8192 {
		if err := views.Apply(benchAttempts(b, uint64(2+from), min(8192, items-from))); err != nil {
			b.Fatal(err)
		}
	}
	anchor := ""
	for skip := (deepPage - 1) * limit; skip > 0; {
		p, err := views.ListDeliveryItems(benchHook, anchor, min(skip, 1000))
		if err != nil {
			b.Fatal(err)
		}
		anchor, skip = p.Next, skip-len(p.Items)
	}
	for _, c := range []struct{ name, anchor string }{{"first-page", ""}, {fmt.Sprintf("page-%d", deepPage), anchor}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := views.ListDeliveryItems(benchHook, c.anchor, limit)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Items) != limit || p.Total != items {
					b.Fatalf("listed %d of %d, want %d of %d", len(p.Items), p.Total, limit, items)
				}
			}
		})
	}
}
