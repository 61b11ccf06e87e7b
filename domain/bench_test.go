package domain_test

import (
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
)

// BenchmarkBuildRequest builds the request for one delivery: headers and,
// with a secret, the Bitrise and Standard Webhooks signatures (the second
// also during a rotation, with two secrets).
//
//	go test -run='^$' -bench=BuildRequest -benchmem ./domain/
func BenchmarkBuildRequest(b *testing.B) {
	pr := int64(32)
	body := domain.BuildPayload{
		BuildSlug: "9f8e7d6c5b4a3921", BuildNumber: 1234, AppSlug: "bench-app", BuildStatus: 1,
		BuildTriggeredWorkflow: "primary",
		Git:                    domain.GitInfo{Provider: "github", SrcBranch: "feature/branch", DstBranch: "main", PullRequestID: &pr},
	}.Body()
	hook := domain.Hook{
		Slug: "5a1c2f9e-7b1d-4c61-a1d3-6a9e2c7d8f00", AppSlug: "bench-app", URL: "https://hooks.example.com/bitrise",
		Events: []string{domain.SelectAll}, Headers: map[string]string{"X-Team": "mobile", "X-Env": "production"},
	}
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	const id = "0e7b0b3a-1c2d-5e6f-8a9b-0c1d2e3f4a5b"
	for _, c := range []struct {
		name    string
		secrets domain.SigningSecrets
	}{
		{"no-secret", domain.SigningSecrets{}},
		{"secret", domain.SigningSecrets{Current: "s3cret-for-bench"}},
		{"rotating-secrets", domain.SigningSecrets{Current: "s3cret-for-bench", Previous: "old-s3cret"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req := domain.BuildRequest(hook, domain.EventBuildFinished, body, id, at, c.secrets)
				if len(req.Headers) == 0 {
					b.Fatal("no headers")
				}
			}
		})
	}
}
