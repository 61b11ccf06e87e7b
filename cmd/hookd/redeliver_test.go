package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
)

// okByWebhookID counts the requests rc answered with 200, by Webhook-Id.
func okByWebhookID(rc *testkit.Receiver) map[string]int {
	ok := map[string]int{}
	for id, reqs := range rc.ByHeader("Webhook-Id") {
		for _, r := range reqs {
			if r.Status == http.StatusOK {
				ok[id]++
			}
		}
	}
	return ok
}

var uuidLine = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestRedeliverFailedCommandRecoversAfterAnOutage runs the real binary
// against a real server that requires a token: after a receiver's outage
// one command sends each failed delivery again, and a second sends nothing.
func TestRedeliverFailedCommandRecoversAfterAnOutage(t *testing.T) {
	const token = "cli-token"
	auth := map[string]string{"Authorization": "Bearer " + token}
	recv := testkit.NewReceiver(t)
	recv.SetStatus(http.StatusInternalServerError) // down
	srv := startServer(t, "server", t.TempDir(), "HOOKD_API_TOKEN="+token)
	var created struct {
		Data struct{ Slug string } `json:"data"`
	}
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
		fmt.Sprintf(`{"url":%q,"events":["all"]}`, recv.URL()+"/hook"), auth, http.StatusOK, &created)
	hook := created.Data.Slug
	hookPath := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks/" + hook
	since := time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	const builds = 3
	for i := range builds {
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events",
			fmt.Sprintf(`{"build_slug":"outage-%d","build_number":%d,"build_status":1}`, i, i+1),
			mergeHeaders(auth, map[string]string{"Bitrise-Event-Type": "build/finished"}), http.StatusAccepted, nil)
	}
	testkit.WaitUntil(t, pollTimeout, "the failed deliveries to be recorded", func() bool {
		var list itemList
		srv.mustCall(t, http.MethodGet, hookPath+"/delivery-items", "", auth, http.StatusOK, &list)
		return len(list.Data) == builds
	})
	recv.SetStatus(http.StatusOK) // back

	args := []string{"redeliver-failed", "--server", srv.base, "--app", e2eApp, "--hook", hook, "--since", since}
	// Without the token the server refuses, and the command says why.
	code, out := runHookd(t, time.Minute, nil, args...)
	if code != 1 || !strings.Contains(out, "401") || !strings.Contains(out, "API token") {
		t.Fatalf("without a token: exit %d, want 1 with the server's 401:\n%s", code, out)
	}
	code, stdout, stderr := runHookdSplit(t, time.Minute, []string{"HOOKD_API_TOKEN=" + token}, args...)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 1+builds || !strings.HasPrefix(lines[0], fmt.Sprintf("redelivery requested for %d failed delivery items since ", builds)) {
		t.Fatalf("redeliver-failed: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, l := range lines[1:] {
		if !uuidLine.MatchString(l) {
			t.Errorf("line %q is not a new item's slug", l)
		}
	}
	testkit.WaitUntil(t, pollTimeout, "the receiver to get each delivery once", func() bool {
		return len(okByWebhookID(recv)) == builds
	})

	// Again, with the token as a flag and since as a duration: nothing left.
	code, out = runHookd(t, time.Minute, nil, "redeliver-failed", "--server", srv.base, "--app", e2eApp, "--hook", hook,
		"--since", "1h", "--token", token)
	if code != 0 || !strings.Contains(out, "no failed delivery items to redeliver") {
		t.Fatalf("second redeliver-failed: exit %d:\n%s", code, out)
	}
	recv.StaysAt(t, 2*builds, 200*time.Millisecond)
	for id, n := range okByWebhookID(recv) {
		if n != 1 {
			t.Errorf("Webhook-Id %s delivered %d times after the outage, want once", id, n)
		}
	}
	if all := recv.Count(); all != 2*builds {
		t.Errorf("receiver got %d requests, want %d failures and %d redeliveries", all, builds, builds)
	}

	// An unknown hook, a bad --since, a missing flag, no server.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--server", srv.base, "--app", e2eApp, "--hook", "nope", "--since", since, "--token", token}, 1, "404 Not Found: webhook not found"},
		{[]string{"--server", srv.base, "--app", e2eApp, "--hook", hook, "--since", "yesterday", "--token", token}, 1, "--since \"yesterday\""},
		{[]string{"--server", srv.base, "--app", e2eApp, "--hook", hook}, 2, "--since required"},
		{[]string{"--server", "127.0.0.1:1", "--app", "a", "--hook", "h", "--since", "1h"}, 1, "want the server's base URL"},
		{[]string{"--server", "http://127.0.0.1:1", "--app", "a", "--hook", "h", "--since", "1h"}, 1, "could not reach the server"},
	} {
		code, out := runHookd(t, time.Minute, nil, append([]string{"redeliver-failed"}, c.args...)...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("redeliver-failed %v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, out)
		}
	}
	srv.stop(t)
}

func mergeHeaders(hs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		for k, v := range h {
			out[k] = v
		}
	}
	return out
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-03-01T10:00:00Z":      time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		"2026-03-01T10:00:00+02:00": time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC),
		"2h":                        time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		"90m":                       time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC),
	} {
		if got, err := parseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "-2h", "0s", "2026-03-01"} {
		if _, err := parseSince(in, now); err == nil {
			t.Errorf("parseSince(%q) succeeded", in)
		}
	}
}
