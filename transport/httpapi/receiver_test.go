package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hookd/hookd/internal/testkit"
)

// newReceiver starts the kit's recording receiver answering status with
// the small JSON body and the X-Receiver header that the tests look for in
// recorded responses.
func newReceiver(t *testing.T, status int) *testkit.Receiver {
	t.Helper()
	rc := testkit.NewReceiver(t)
	rc.SetReply(testkit.Reply{
		Status: status,
		Header: http.Header{"X-Receiver": {"yes"}, "Content-Type": {"application/json"}},
		Body:   `{"ok":true}`,
	})
	return rc
}

// closedURL is the URL of a receiver that is no longer listening, so a
// delivery to it is refused.
func closedURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/gone"
	srv.Close()
	return u
}

// sign is the Bitrise-Hook-Signature of body, computed independently of hookd.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
