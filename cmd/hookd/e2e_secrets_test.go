package main

// End-to-end tests of where hook secrets live: sealed in the log, never in
// the data directory, the logs or an API response in clear.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/internal/testkit"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const (
	canarySecret1    = "sekr1t-canary-XYZ"
	canarySecret2    = "sekr1t-canary-2"
	canaryBadSecret  = "whsec_sekr1t-canary-BAD" // rejected: not base64 of a key
	canaryAuthToken  = "tok-canary-ABC"
	canaryAuthHeader = "Bearer " + canaryAuthToken
)

// verifyStandard verifies a delivery with the Standard Webhooks reference
// library keyed with a plain secret's bytes.
func verifyStandard(t *testing.T, secret string, got testkit.Request) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhookRaw([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return wh.Verify(got.Body, got.Header)
}

// dataFiles returns every regular file under dir with its raw bytes.
func dataFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[path] = b
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return files
}

// badgerContents returns every key and value, all versions, of the Badger
// database in dir, read through Badger so that compressed tables are seen
// decompressed. The server must be stopped.
func badgerContents(t *testing.T, dir string) []byte {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	defer db.Close()
	var all bytes.Buffer
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
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
		t.Fatalf("read %s: %v", dir, err)
	}
	return all.Bytes()
}

// secretsCheck collects every API response of a test to search them.
type secretsCheck struct {
	responses []string
}

func (c *secretsCheck) call(t *testing.T, s *server, method, path, body string, want int, out any) []byte {
	t.Helper()
	b := s.mustCall(t, method, path, body, nil, want, out)
	c.responses = append(c.responses, fmt.Sprintf("%s %s: %s", method, path, b))
	return b
}

func TestSecretsAreNeverInClearOnDiskInLogsOrInResponses(t *testing.T) {
	data := t.TempDir()
	recv := newReceiver(t)
	srv := startServer(t, "server", data, "HOOKD_LOG_LEVEL=debug")
	var c secretsCheck
	hooksPath := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks"
	hookURL := recv.URL() + "/hooks/canary"
	hookBody := func(secret string) string {
		return fmt.Sprintf(`{"url":%q,"events":["all"],"headers":{"Authorization":%q,"X-Team":"ci"},"secret":%q}`,
			hookURL, canaryAuthHeader, secret)
	}

	// A rejected secret is neither echoed nor kept.
	var rejected struct {
		Message string `json:"message"`
	}
	c.call(t, srv, http.MethodPost, hooksPath, hookBody(canaryBadSecret), http.StatusBadRequest, &rejected)
	if !strings.Contains(rejected.Message, "secret") {
		t.Errorf("rejection of a bad whsec_ secret does not name the field: %q", rejected.Message)
	}

	var created struct {
		Data struct {
			Slug      string `json:"slug"`
			HasSecret bool   `json:"has_secret"`
		} `json:"data"`
	}
	c.call(t, srv, http.MethodPost, hooksPath, hookBody(canarySecret1), http.StatusOK, &created)
	if created.Data.Slug == "" || !created.Data.HasSecret {
		t.Fatalf("created hook %+v, want a slug and has_secret", created.Data)
	}
	hookPath := hooksPath + "/" + created.Data.Slug

	builds := 0
	sendBuild := func() {
		t.Helper()
		// The same body each time, a new event each time (its own Idempotency-Key).
		builds++
		b := srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput,
			map[string]string{"Bitrise-Event-Type": "build/finished", "Idempotency-Key": fmt.Sprint("secrets-", builds)}, http.StatusAccepted, nil)
		c.responses = append(c.responses, "POST build-events: "+string(b))
	}
	waitItems := func(n int) itemList {
		t.Helper()
		var list itemList
		testkit.WaitUntil(t, pollTimeout, fmt.Sprintf("%d delivery items", n), func() bool {
			list = itemList{}
			c.call(t, srv, http.MethodGet, hookPath+"/delivery-items", "", http.StatusOK, &list)
			return len(list.Data) >= n
		})
		return list
	}

	// 1. A delivery signed with the first secret; the Authorization header
	// is sent but shown masked.
	sendBuild()
	got := recv.WaitForCount(t, 1, pollTimeout)[0]
	if sig := got.Header.Get("Bitrise-Hook-Signature"); sig != sign(canarySecret1, buildFinishedBody) {
		t.Errorf("first delivery: Bitrise-Hook-Signature %q does not match the first secret", sig)
	}
	if err := verifyStandard(t, canarySecret1, got); err != nil {
		t.Errorf("first delivery: the reference library rejects it: %v", err)
	}
	if a := got.Header.Get("Authorization"); a != canaryAuthHeader {
		t.Errorf("first delivery: Authorization %q, want the configured %q sent", a, canaryAuthHeader)
	}
	list := waitItems(1)
	first := list.Data[0]
	var headers map[string]string
	if err := json.Unmarshal([]byte(first.RequestHeaders), &headers); err != nil {
		t.Fatalf("request_headers %q: %v", first.RequestHeaders, err)
	}
	if headers["Authorization"] != "REDACTED" || headers["X-Team"] != "ci" {
		t.Errorf("delivery item request_headers %s: want Authorization REDACTED and X-Team ci", first.RequestHeaders)
	}
	if headers["Webhook-Signature"] != got.Header.Get("Webhook-Signature") || headers["Webhook-Id"] == "" {
		t.Errorf("delivery item request_headers %s do not show the signature that was sent", first.RequestHeaders)
	}
	c.call(t, srv, http.MethodGet, hookPath+"/delivery-items/"+first.Slug, "", http.StatusOK, nil)

	// 2. Rotate: PUT a new secret. During the grace period deliveries are
	// signed with both.
	var updated struct {
		Data struct {
			HasSecret bool `json:"has_secret"`
		} `json:"data"`
	}
	c.call(t, srv, http.MethodPut, hookPath, hookBody(canarySecret2), http.StatusOK, &updated)
	if !updated.Data.HasSecret {
		t.Error("after PUT with a new secret: has_secret is false")
	}
	sendBuild()
	got = recv.WaitForCount(t, 2, pollTimeout)[1]
	if sig := got.Header.Get("Bitrise-Hook-Signature"); sig != sign(canarySecret2, buildFinishedBody) {
		t.Errorf("after rotation: Bitrise-Hook-Signature %q does not match the new secret", sig)
	}
	for _, s := range []string{canarySecret1, canarySecret2} {
		if err := verifyStandard(t, s, got); err != nil {
			t.Errorf("after rotation: the reference library keyed with %q rejects the delivery: %v (webhook-signature %q)",
				s, err, got.Header.Get("Webhook-Signature"))
		}
	}
	list = waitItems(2)
	for _, item := range list.Data {
		c.call(t, srv, http.MethodGet, hookPath+"/delivery-items/"+item.Slug, "", http.StatusOK, nil)
	}
	c.call(t, srv, http.MethodGet, hookPath, "", http.StatusOK, nil)
	c.call(t, srv, http.MethodGet, hooksPath, "", http.StatusOK, nil)
	srv.stop(t)

	secrets := []string{canarySecret1, canarySecret2, canaryBadSecret}
	// 3. No API response holds a secret or the Authorization value: not
	// the delivery items, and not the hook answers (POST, PUT, GET, list),
	// which show it as REDACTED.
	for _, r := range c.responses {
		for _, s := range secrets {
			if strings.Contains(r, s) {
				t.Errorf("an API response holds the secret %q: %s", s, r)
			}
		}
	}
	for _, r := range c.responses {
		if strings.Contains(r, canaryAuthToken) {
			t.Errorf("an API response holds the Authorization value: %s", r)
		}
	}

	// 4. Nothing in the data directory holds a secret: not the raw bytes
	// of any file, nor anything Badger returns once its tables are
	// decompressed.
	files := dataFiles(t, data)
	if len(files) == 0 {
		t.Fatal("the data directory holds no files")
	}
	for path, b := range files {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %q in clear", path, s)
			}
		}
	}
	logDir, viewsDir := service.DataDirs(data)
	for _, dir := range []string{logDir, viewsDir} {
		contents := badgerContents(t, dir)
		for _, s := range secrets {
			if bytes.Contains(contents, []byte(s)) {
				t.Errorf("the database in %s holds the secret %q in clear", dir, s)
			}
		}
		if dir == logDir && !bytes.Contains(contents, []byte(canaryAuthToken)) {
			// The control: a value that is stored in clear is found, so the
			// search would have found a secret.
			t.Errorf("the log does not hold the Authorization value; the search for secrets proves nothing")
		}
	}

	// 5. The key file is there, private, and its key is not logged.
	keyPath := filepath.Join(data, "secret.key")
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode %o, want 600", mode)
	}
	key, _ := os.ReadFile(keyPath)

	// 6. The server's own output holds no secret and no key.
	logs := srv.logs.String()
	if !strings.Contains(logs, "hookd listening") {
		t.Fatalf("the captured output is not the server's log:\n%s", logs)
	}
	for _, s := range append(secrets, strings.TrimSpace(string(key))) {
		if strings.Contains(logs, s) {
			t.Errorf("the server's log output holds %q", s)
		}
	}
}

func TestSecretKeyFromEnvironmentCreatesNoKeyFile(t *testing.T) {
	data := t.TempDir()
	recv := newReceiver(t)
	keyHex := hex.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	env := "HOOKD_SECRET_KEY=" + keyHex
	srv := startServer(t, "server with env key", data, env)
	hooksPath := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks"
	body := fmt.Sprintf(`{"url":%q,"events":["all"],"secret":%q}`, recv.URL()+"/h", canarySecret1)
	srv.mustCall(t, http.MethodPost, hooksPath, body, nil, http.StatusOK, nil)
	sends := 0
	send := func(s *server) {
		t.Helper()
		sends++
		s.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput,
			map[string]string{"Bitrise-Event-Type": "build/finished", "Idempotency-Key": fmt.Sprint("env-key-", sends)}, http.StatusAccepted, nil)
	}
	send(srv)
	got := recv.WaitForCount(t, 1, pollTimeout)[0]
	if err := verifyStandard(t, canarySecret1, got); err != nil {
		t.Errorf("delivery with the env key: %v", err)
	}
	srv.stop(t)
	if _, err := os.Stat(filepath.Join(data, "secret.key")); !os.IsNotExist(err) {
		t.Errorf("a key file exists (stat: %v) although HOOKD_SECRET_KEY was given", err)
	}
	if strings.Contains(srv.logs.String(), keyHex) {
		t.Error("the server's log output holds HOOKD_SECRET_KEY")
	}

	// The same key after a restart opens the sealed secret again.
	srv = startServer(t, "server with env key, restarted", data, env)
	send(srv)
	got = recv.WaitForCount(t, 2, pollTimeout)[1]
	if err := verifyStandard(t, canarySecret1, got); err != nil {
		t.Errorf("delivery after a restart with the same env key: %v", err)
	}
	srv.stop(t)
	if _, err := os.Stat(filepath.Join(data, "secret.key")); !os.IsNotExist(err) {
		t.Errorf("a key file exists after the restart (stat: %v)", err)
	}
}
