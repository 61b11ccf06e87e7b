package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
)

// hookdOut runs hookd to completion and returns its exit code, stdout and
// stderr apart (runHookd combines them).
func hookdOut(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hookdBin, args...)
	cmd.Env = childEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("hookd %s did not exit within a minute", strings.Join(args, " "))
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// actorField is the token_name of the actor object at key in a decoded
// JSON object ("" when absent).
func actorField(obj map[string]any, key string) string {
	a, _ := obj[key].(map[string]any)
	name, _ := a["token_name"].(string)
	return name
}

// TestTokensFromTheCLIOpenOnlyTheirAppsAndTheLogRecordsWhoDidWhat runs
// the real binary: an admin issues an ingest token and an apps:write token
// with `hookd token create`; each opens only its scope for its app; every
// event records its actor, in the API and in `log export`, and again
// after `hookd rebuild`; a revoked token is refused from the next request
// on, and after the rebuild too; no token is anywhere under the data
// directory or in the export.
func TestTokensFromTheCLIOpenOnlyTheirAppsAndTheLogRecordsWhoDidWhat(t *testing.T) {
	const boot = "e2e-bootstrap-token"
	data := t.TempDir()
	recv := newReceiver(t)
	srv := startServer(t, "server", data, "HOOKD_API_TOKEN="+boot)
	admin := map[string]string{"Authorization": "Bearer " + boot}

	create := func(name, scopes, apps string, extra ...string) string {
		t.Helper()
		args := append([]string{"token", "create", "--server", srv.base, "--name", name, "--scopes", scopes, "--apps", apps}, extra...)
		code, out, errOut := hookdOut(t, []string{"HOOKD_API_TOKEN=" + boot}, args...)
		if code != 0 {
			t.Fatalf("hookd token create %s: exit %d: %s", name, code, errOut)
		}
		tok := strings.TrimSpace(out)
		if !strings.HasPrefix(tok, "hkd_") || strings.Contains(tok, "\n") || !strings.Contains(errOut, "shown this once") {
			t.Fatalf("hookd token create printed %q (stderr %q); want the token alone on stdout", out, errOut)
		}
		return tok
	}
	ci := create("ci", "ingest", e2eApp)
	alice := create("alice", "apps:write", e2eApp, "--expires", "720h")
	as := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	code, list, errOut := hookdOut(t, nil, "token", "list", "--server", srv.base, "--token", boot)
	if code != 0 || !strings.Contains(list, "ci") || !strings.Contains(list, "alice") || strings.Contains(list, "hkd_") {
		t.Fatalf("hookd token list: exit %d, %q %q", code, list, errOut)
	}

	// Each token opens its scope, for its app only.
	var hook struct{ Data map[string]any }
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks", `{"url":"`+recv.URL()+`/a","events":["all"]}`, as(alice), http.StatusOK, &hook)
	slug := hook.Data["slug"].(string)
	hookPath := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks/" + slug
	srv.mustCall(t, http.MethodPut, hookPath, `{"url":"`+recv.URL()+`/a2","events":["all"]}`, admin, http.StatusOK, nil)
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks", `{"url":"`+recv.URL()+`/x","events":["all"]}`, as(ci), http.StatusForbidden, nil)
	srv.mustCall(t, http.MethodGet, "/v0.1/apps/app-b/outgoing-webhooks", "", as(alice), http.StatusForbidden, nil)
	srv.mustCall(t, http.MethodGet, "/v0.1/log/head", "", as(alice), http.StatusForbidden, nil)
	ingest := map[string]string{"Authorization": "Bearer " + ci, "Bitrise-Event-Type": "build/finished"}
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/app-b/build-events", buildFinishedInput, ingest, http.StatusForbidden, nil)
	var accepted struct{ Data map[string]any }
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput, ingest, http.StatusAccepted, &accepted)
	eventID := accepted.Data["event_id"].(string)
	recv.WaitForCount(t, 1, pollTimeout)
	var items struct{ Data []map[string]any }
	testkit.WaitUntil(t, pollTimeout, "the first delivery item", func() bool {
		srv.mustCall(t, http.MethodGet, hookPath+"/delivery-items", "", as(alice), http.StatusOK, &items)
		return len(items.Data) == 1
	})
	first := items.Data[0]["slug"].(string)
	srv.mustCall(t, http.MethodPost, hookPath+"/delivery-items/"+first+"/redeliver", "", as(alice), http.StatusOK, nil)
	recv.WaitForCount(t, 2, pollTimeout)

	// Who did what, as the API says it.
	checkActors := func(when string) {
		t.Helper()
		var h struct{ Data map[string]any }
		srv.mustCall(t, http.MethodGet, hookPath, "", admin, http.StatusOK, &h)
		if c, u := actorField(h.Data, "created_by"), actorField(h.Data, "updated_by"); c != "alice" || u != "bootstrap" {
			t.Errorf("%s: hook created_by %q, updated_by %q; want alice, bootstrap", when, c, u)
		}
		var list struct{ Data []map[string]any }
		testkit.WaitUntil(t, pollTimeout, "two delivery items", func() bool {
			srv.mustCall(t, http.MethodGet, hookPath+"/delivery-items", "", admin, http.StatusOK, &list)
			return len(list.Data) == 2
		})
		if newest, oldest := actorField(list.Data[0], "requested_by"), actorField(list.Data[1], "requested_by"); newest != "alice" || oldest != "hookd" {
			t.Errorf("%s: items requested_by %q (redelivery), %q (first); want alice, hookd", when, newest, oldest)
		}
		var ev struct{ Data map[string]any }
		srv.mustCall(t, http.MethodGet, "/v0.1/apps/"+e2eApp+"/build-events/"+eventID, "", admin, http.StatusOK, &ev)
		if r := actorField(ev.Data, "reported_by"); r != "ci" {
			t.Errorf("%s: build event reported_by %q, want ci", when, r)
		}
	}
	checkActors("live")

	// Revoked: refused from the very next request.
	var tokens struct{ Data []map[string]any }
	srv.mustCall(t, http.MethodGet, "/v0.1/admin/tokens", "", admin, http.StatusOK, &tokens)
	var aliceID string
	for _, tk := range tokens.Data {
		if tk["name"] == "alice" {
			aliceID = tk["id"].(string)
		}
	}
	if code, out, errOut := hookdOut(t, nil, "token", "revoke", aliceID, "--server", srv.base, "--token", boot); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("hookd token revoke: exit %d, %q %q", code, out, errOut)
	}
	srv.mustCall(t, http.MethodGet, hookPath, "", as(alice), http.StatusUnauthorized, nil)
	srv.stop(t)

	// The log says who did what; no token is in it or anywhere on disk.
	code, export, errOut := hookdOut(t, nil, "log", "export", "--data", data)
	if code != 0 {
		t.Fatalf("hookd log export: exit %d: %s", code, errOut)
	}
	actors := map[string][]string{}
	for line := range strings.Lines(export) {
		var e struct {
			Type    string `json:"type"`
			Version int    `json:"version"`
			Payload struct {
				Actor *struct {
					TokenName string `json:"token_name"`
				} `json:"actor"`
			} `json:"payload"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		who := "<none>"
		if e.Payload.Actor != nil {
			who = e.Payload.Actor.TokenName
		}
		name := fmt.Sprintf("%s.v%d", e.Type, e.Version)
		actors[name] = append(actors[name], who)
	}
	want := map[string]string{
		"token.issued.v1": "[bootstrap bootstrap]", "token.revoked.v1": "[bootstrap]", "hook.configured.v1": "[alice bootstrap]",
		"build_event.received.v1": "[ci]", "delivery.requested.v1": "[hookd]", "redelivery.requested.v1": "[alice]",
		"delivery.attempted.v1": "[hookd hookd]",
	}
	for name, w := range want {
		if got := fmt.Sprint(actors[name]); got != w {
			t.Errorf("log export: actors of %s = %s, want %s", name, got, w)
		}
	}
	for _, tok := range []string{ci, alice, strings.TrimPrefix(ci, "hkd_"), strings.TrimPrefix(alice, "hkd_")} {
		if strings.Contains(export, tok) {
			t.Errorf("the log export holds a token")
		}
		for path, b := range dataFiles(t, data) {
			if bytes.Contains(b, []byte(tok)) {
				t.Errorf("%s holds a token", path)
			}
		}
		for _, db := range []string{"log", "views"} {
			if bytes.Contains(badgerContents(t, filepath.Join(data, db)), []byte(tok)) {
				t.Errorf("the %s database holds a token", db)
			}
		}
	}

	// After a rebuild from the log: the same actors, the same tokens.
	if code, out := runHookd(t, 2*time.Minute, nil, "rebuild", "--data", data); code != 0 {
		t.Fatalf("hookd rebuild: exit %d: %s", code, out)
	}
	srv = startServer(t, "after rebuild", data, "HOOKD_API_TOKEN="+boot)
	checkActors("after rebuild")
	srv.mustCall(t, http.MethodGet, hookPath, "", as(alice), http.StatusUnauthorized, nil)
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput,
		map[string]string{"Authorization": "Bearer " + ci, "Bitrise-Event-Type": "build/triggered"}, http.StatusAccepted, nil)
}
