package natslog_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/natstest"
)

// TestKeyedEntryIsClaimedLikeAnyOther: a keyed message is stored on its
// key's subject, and a queue of its name still hands it out, in log order
// with the keyless ones.
func TestKeyedEntryIsClaimedLikeAnyOther(t *testing.T) {
	srv := natstest.RunServer(t)
	l := openLog(t, freshConfig(srv.URL))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	msg := func(key string) eventlog.AppendMessage {
		m := eventlog.AppendMessage{UUID: uuid.NewString(), Metadata: map[string]string{eventlog.MetaName: "test.requested.v1"}, Payload: []byte("{}")}
		if key != "" {
			m.Metadata[eventlog.MetaUnique] = key
		}
		return m
	}
	want := []eventlog.AppendMessage{msg(""), msg("request:1"), msg("")}
	for _, m := range want {
		if _, err := l.Append(ctx, eventlog.Topic, m); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := l.Claims(ctx, eventlog.Topic, eventlog.ClaimConfig{Queue: "keyed", Names: []string{"test.requested.v1"}, Lease: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	var got []eventlog.Claim
	for len(got) < len(want) {
		c, err := cs.Next(ctx, len(want)-len(got))
		if err != nil {
			t.Fatalf("Next after %d claims: %v", len(got), err)
		}
		got = append(got, c...)
	}
	for i, c := range got {
		if c.Entry.UUID != want[i].UUID {
			t.Fatalf("claim %d is %s, want %s (in log order, the keyed one included)", i, c.Entry.UUID, want[i].UUID)
		}
		if err := c.Done(); err != nil {
			t.Fatal(err)
		}
	}
	if got[1].Entry.Metadata[eventlog.MetaUnique] != "request:1" {
		t.Fatalf("the keyed claim's metadata %v lacks its key", got[1].Entry.Metadata)
	}
}
