package domain_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
)

var redeliveryT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// drec is a delivery item of build event ev created min minutes after
// redeliveryT0, answered st (nil: no response), redelivered by the slugs in by.
func drec(slug, ev string, min int, st *int, by ...string) domain.DeliveryRecord {
	return domain.DeliveryRecord{Slug: slug, BuildEventID: ev, CreatedAt: redeliveryT0.Add(time.Duration(min) * time.Minute), Status: st, RedeliveredBy: by}
}

func httpStatus(s int) *int { return &s }

// cutOff marks d as a response whose body was cut off.
func cutOff(d domain.DeliveryRecord) domain.DeliveryRecord {
	d.Error = "response body cut off: timeout after 10s (kept 12 bytes)"
	return d
}

func TestDeliveryRecordFailedUnlessA2xxArrivedWithoutError(t *testing.T) {
	for _, c := range []struct {
		status *int
		err    string
		want   bool
	}{
		{nil, "connection refused", true},
		{nil, "", true},
		{httpStatus(199), "", true},
		{httpStatus(200), "", false},
		{httpStatus(299), "", false},
		{httpStatus(300), "", true},
		{httpStatus(503), "", true},
		{httpStatus(200), "response body cut off: connection closed before the body was complete (kept 3 of 10 bytes)", true},
	} {
		d := domain.DeliveryRecord{Status: c.status, Error: c.err}
		if got := d.Failed(); got != c.want {
			status := "none"
			if c.status != nil {
				status = fmt.Sprint(*c.status)
			}
			t.Errorf("Failed() with status %s, error %q = %v, want %v", status, c.err, got, c.want)
		}
	}
}

func selectedSlugs(items []domain.DeliveryRecord, since time.Time) []string {
	var slugs []string
	for _, d := range domain.SelectFailedForRedelivery(items, since) {
		slugs = append(slugs, d.Slug)
	}
	return slugs
}

func TestSelectFailedForRedeliveryPicksEachFailedBuildEventOnce(t *testing.T) {
	t0 := redeliveryT0
	cases := []struct {
		name  string
		items []domain.DeliveryRecord
		since time.Time
		want  []string
	}{
		{"nothing", nil, t0, nil},
		{
			"failures of every kind are selected, successes are not",
			[]domain.DeliveryRecord{
				drec("no-response", "e1", 1, nil),
				drec("500", "e2", 2, httpStatus(500)),
				drec("404", "e3", 3, httpStatus(404)),
				drec("302", "e4", 4, httpStatus(302)),
				drec("199", "e5", 5, httpStatus(199)),
				drec("200", "e6", 6, httpStatus(200)),
				drec("204", "e7", 7, httpStatus(204)),
				drec("299", "e8", 8, httpStatus(299)),
			},
			t0,
			[]string{"no-response", "500", "404", "302", "199"},
		},
		{
			"a 2xx whose body was cut off failed",
			[]domain.DeliveryRecord{
				cutOff(drec("cut-200", "e1", 1, httpStatus(200))),
				drec("whole-200", "e2", 2, httpStatus(200)),
			},
			t0,
			[]string{"cut-200"},
		},
		{
			"a cut-off 2xx does not count as delivered for its build event",
			[]domain.DeliveryRecord{
				drec("orig", "e1", 1, httpStatus(500), "retry"),
				cutOff(drec("retry", "e1", 2, httpStatus(204))),
			},
			t0,
			[]string{"retry"},
		},
		{
			"since is inclusive, earlier items are untouched",
			[]domain.DeliveryRecord{
				drec("before", "e1", -1, nil),
				drec("at", "e2", 0, nil),
				drec("after", "e3", 1, nil),
			},
			t0,
			[]string{"at", "after"},
		},
		{
			"an item whose redelivery is requested but not attempted yet holds its build event back",
			[]domain.DeliveryRecord{
				drec("asked", "e1", 1, httpStatus(503), "r1"),
				drec("not-asked", "e2", 2, httpStatus(503)),
			},
			t0,
			[]string{"not-asked"},
		},
		{
			"a redelivery that failed again is the one sent",
			[]domain.DeliveryRecord{
				drec("orig", "e1", 1, httpStatus(500), "retry"),
				drec("retry", "e1", 5, httpStatus(500)),
			},
			t0,
			[]string{"retry"},
		},
		{
			"a build event delivered since then is not sent again",
			[]domain.DeliveryRecord{
				drec("orig", "e1", 1, httpStatus(500), "ok", "second"),
				drec("ok", "e1", 5, httpStatus(200)),
				drec("second", "e1", 6, nil),
			},
			t0,
			nil,
		},
		{
			"two failed redeliveries of one item: only the newest",
			[]domain.DeliveryRecord{
				drec("orig", "e1", 1, nil, "leaf-a", "leaf-b"),
				drec("leaf-a", "e1", 3, nil),
				drec("leaf-b", "e1", 4, nil),
			},
			t0,
			[]string{"leaf-b"},
		},
		{
			"a second manual redelivery still pending holds the build event back",
			[]domain.DeliveryRecord{
				drec("orig", "e1", 1, nil, "leaf-a", "pending"),
				drec("leaf-a", "e1", 3, nil),
			},
			t0,
			nil,
		},
		{
			"the redelivery of an item from before since is selected by its own time",
			[]domain.DeliveryRecord{
				drec("old", "e1", -10, nil, "retry"),
				drec("retry", "e1", 2, httpStatus(500)),
			},
			t0,
			[]string{"retry"},
		},
		{
			"ties on time are broken by slug, in the result and within a build event",
			[]domain.DeliveryRecord{
				drec("b", "e1", 1, nil),
				drec("a", "e2", 1, nil),
				drec("c", "e3", 2, nil),
				drec("d", "e3", 2, nil),
			},
			t0,
			[]string{"a", "b", "d"},
		},
		{
			"a success before since does not hide a failure after it",
			[]domain.DeliveryRecord{
				drec("old-ok", "e1", -5, httpStatus(200)),
				drec("new-fail", "e1", 5, httpStatus(500)),
			},
			t0,
			[]string{"new-fail"},
		},
		{
			"input order does not matter; the result is oldest first",
			[]domain.DeliveryRecord{
				drec("third", "e3", 30, nil),
				drec("first", "e1", 10, nil),
				drec("second", "e2", 20, httpStatus(502)),
			},
			t0,
			[]string{"first", "second", "third"},
		},
		{
			"since in the future selects nothing",
			[]domain.DeliveryRecord{drec("x", "e1", 1, nil)},
			t0.Add(time.Hour),
			nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := selectedSlugs(tc.items, tc.since)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("selected %q, want %q", got, tc.want)
			}
			checkOnceEach(t, tc.items, tc.since, got)
		})
	}
}

// checkOnceEach replays what the API does with a selection: it requests a
// redelivery of each chosen item, then the redeliveries are attempted.
// While they wait, and once they succeeded, nothing is selected; if they
// all failed again, exactly those new items are.
func checkOnceEach(t *testing.T, items []domain.DeliveryRecord, since time.Time, chosen []string) {
	t.Helper()
	requested := slices.Clone(items)
	var redeliveries []domain.DeliveryRecord
	for i, d := range requested {
		if slices.Contains(chosen, d.Slug) {
			re := "re-" + d.Slug
			requested[i].RedeliveredBy = append(slices.Clone(d.RedeliveredBy), re)
			redeliveries = append(redeliveries, domain.DeliveryRecord{Slug: re, BuildEventID: d.BuildEventID, CreatedAt: redeliveryT0.Add(24 * time.Hour)})
		}
	}
	if again := selectedSlugs(requested, since); len(again) != 0 {
		t.Fatalf("with the redeliveries requested and not yet attempted, selected again %q", again)
	}
	succeeded := slices.Clone(requested)
	for _, r := range redeliveries {
		r.Status = httpStatus(200)
		succeeded = append(succeeded, r)
	}
	if again := selectedSlugs(succeeded, since); len(again) != 0 {
		t.Fatalf("with the redeliveries delivered, selected again %q", again)
	}
	failed := append(slices.Clone(requested), redeliveries...)
	var want []string
	for _, r := range redeliveries {
		want = append(want, r.Slug)
	}
	slices.Sort(want)
	if again := selectedSlugs(failed, since); !slices.Equal(again, want) {
		t.Fatalf("with the redeliveries failed again, selected %q, want them: %q", again, want)
	}
}
