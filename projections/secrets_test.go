package projections_test

import (
	"bytes"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/domain"
)

// viewBytes returns every key and value the views hold, concatenated.
func viewBytes(t *testing.T, db *badger.DB) []byte {
	t.Helper()
	var all bytes.Buffer
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			all.Write(it.Item().Key())
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			all.Write(v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read views: %v", err)
	}
	return all.Bytes()
}

func TestDeliveryItemMasksCredentialHeadersButShowsSignatures(t *testing.T) {
	l := newLiveViews(t)
	sealed := "v1:sealed-secret-bytes"
	cfg := configured("app-1", "h-1", 0)
	cfg.SealedSecret = &sealed
	l.apply(cfg)

	hook := domain.Hook{Slug: "h-1", AppSlug: "app-1", URL: "https://receiver.example/h-1", Headers: map[string]string{
		"Authorization": "Bearer tok-canary", "Cookie": "session=cookie-canary", "X-Api-Key": "key-canary",
		"X-Team": "mobile",
	}}
	a := attempted("app-1", "h-1", "d-1", 200, at(1))
	a.Request = domain.BuildRequest(hook, domain.EventBuildFinished, a.Request.Body, "d-1", at(1),
		domain.SigningSecrets{Current: "new", Previous: "old"})
	l.apply(a)

	d, err := l.views.DeliveryItem("h-1", "d-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Authorization", "Cookie", "X-Api-Key"} {
		if got := d.RequestHeaders[name]; got != domain.Masked {
			t.Errorf("delivery item header %s = %q, want %q", name, got, domain.Masked)
		}
	}
	for _, name := range []string{"X-Team", "Bitrise-Hook-Signature", "Webhook-Signature", "Webhook-Id", "Webhook-Timestamp", "Content-Type"} {
		if got, want := d.RequestHeaders[name], a.Request.Headers[name]; got != want || got == "" {
			t.Errorf("delivery item header %s = %q, want %q as sent", name, got, want)
		}
	}
	if a.Request.Headers["Authorization"] != "Bearer tok-canary" {
		t.Errorf("applying the attempt changed the event's own headers: %q", a.Request.Headers)
	}

	h, err := l.views.Hook("app-1", "h-1")
	if err != nil || !h.HasSecret {
		t.Fatalf("Hook = %+v, %v; want has_secret", h, err)
	}
	raw := viewBytes(t, l.views.DB())
	for _, s := range []string{sealed, "tok-canary", "cookie-canary", "key-canary"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the views hold %q", s)
		}
	}
}
