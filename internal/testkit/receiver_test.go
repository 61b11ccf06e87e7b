package testkit_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
)

var client = &http.Client{Timeout: 10 * time.Second}

// do sends one request and returns the answer's status, headers and body.
func do(method, url string, body []byte, header http.Header) (int, http.Header, string, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// send is do that fails the test on an error.
func send(t *testing.T, method, url string, body []byte, header http.Header) (int, http.Header, string) {
	t.Helper()
	status, h, b, err := do(method, url, body, header)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return status, h, b
}

func post(t *testing.T, rc *testkit.Receiver) int {
	t.Helper()
	status, _, _ := send(t, http.MethodPost, rc.URL()+"/hook", []byte(`{}`), nil)
	return status
}

func TestReceiverRecordsConcurrentRequestsExactly(t *testing.T) {
	rc := testkit.NewReceiver(t)
	const n = 40
	bodyOf := func(i int) []byte { return append(fmt.Appendf(nil, "body %d ", i), 0, 0xff, byte(i), '\r', '\n') }
	before := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			method := []string{http.MethodPost, http.MethodPut}[i%2]
			h := http.Header{"Webhook-Id": {fmt.Sprintf("id-%d", i%10)}, "X-Multi": {"one", strconv.Itoa(i)}}
			status, _, body, err := do(method, fmt.Sprintf("%s/hooks/%d?x=%d&y=a%%20b", rc.URL(), i, i), bodyOf(i), h)
			if err != nil || status != http.StatusOK || body != "ok" {
				t.Errorf("request %d: answered %d %q (%v), want 200 ok", i, status, body, err)
			}
		})
	}
	wg.Wait()
	after := time.Now()

	got := rc.WaitForCount(t, n, time.Second)
	if c := rc.Count(); c != n {
		t.Fatalf("Count() = %d, want %d", c, n)
	}
	seen := map[int]bool{}
	for _, r := range got {
		i, err := strconv.Atoi(strings.TrimPrefix(r.Path, "/hooks/"))
		if err != nil || seen[i] {
			t.Fatalf("request at %q: unknown or seen twice", r.Path)
		}
		seen[i] = true
		if want := []string{http.MethodPost, http.MethodPut}[i%2]; r.Method != want {
			t.Errorf("request %d: method %s, want %s", i, r.Method, want)
		}
		if want := fmt.Sprintf("/hooks/%d?x=%d&y=a%%20b", i, i); r.RequestURI != want {
			t.Errorf("request %d: RequestURI %q, want %q", i, r.RequestURI, want)
		}
		if !bytes.Equal(r.Body, bodyOf(i)) || r.BodyErr != nil {
			t.Errorf("request %d: body %q (%v), want %q", i, r.Body, r.BodyErr, bodyOf(i))
		}
		if v := r.Header.Values("X-Multi"); !slices.Equal(v, []string{"one", strconv.Itoa(i)}) {
			t.Errorf("request %d: X-Multi %q, want both values in order", i, v)
		}
		if v := r.Header.Get("Webhook-Id"); v != fmt.Sprintf("id-%d", i%10) {
			t.Errorf("request %d: Webhook-Id %q", i, v)
		}
		if r.Received.Before(before) || r.Received.After(after) {
			t.Errorf("request %d: received at %s, not between %s and %s", i, r.Received, before, after)
		}
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err != nil || !net.ParseIP(host).IsLoopback() {
			t.Errorf("request %d: remote address %q, want a loopback address", i, r.RemoteAddr)
		}
		if r.Status != http.StatusOK {
			t.Errorf("request %d: recorded status %d, want 200", i, r.Status)
		}
	}

	groups := rc.ByHeader("Webhook-Id")
	if len(groups) != 10 {
		t.Fatalf("ByHeader gave %d groups, want 10", len(groups))
	}
	for id, rs := range groups {
		if len(rs) != n/10 {
			t.Errorf("Webhook-Id %s: %d requests, want %d", id, len(rs), n/10)
		}
	}
	if none := rc.ByHeader("X-Absent"); len(none) != 1 || len(none[""]) != n {
		t.Errorf("ByHeader of an absent header: %d groups, want all %d under \"\"", len(none), n)
	}
}

func TestReceiverAnswersAsItIsSet(t *testing.T) {
	rc := testkit.NewReceiver(t)
	check := func(what string, wantStatus int, wantHeader, wantBody string) {
		t.Helper()
		status, h, body := send(t, http.MethodPost, rc.URL()+"/x", []byte("echo me"), nil)
		if status != wantStatus || h.Get("X-Receiver") != wantHeader || body != wantBody {
			t.Errorf("%s: answered %d, X-Receiver %q, %q; want %d, %q, %q", what, status, h.Get("X-Receiver"), body, wantStatus, wantHeader, wantBody)
		}
	}
	check("by default", http.StatusOK, "", "ok")
	rc.SetStatus(http.StatusServiceUnavailable)
	check("after SetStatus", http.StatusServiceUnavailable, "", "ok")
	rc.SetReply(testkit.Reply{Status: http.StatusCreated, Header: http.Header{"X-Receiver": {"yes"}}, Body: `{"ok":true}`})
	check("after SetReply", http.StatusCreated, "yes", `{"ok":true}`)
	rc.SetStatus(http.StatusAccepted)
	check("after SetStatus on a reply", http.StatusAccepted, "yes", `{"ok":true}`)
	rc.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // the body, again
		w.WriteHeader(http.StatusMultiStatus)
		_, _ = w.Write(b)
	})
	check("with a handler", http.StatusMultiStatus, "", "echo me")
	rc.SetHandler(func(w http.ResponseWriter, r *http.Request) {})
	check("with a handler that writes nothing", http.StatusOK, "", "")
	rc.SetHandler(nil)
	check("with the handler removed", http.StatusAccepted, "yes", `{"ok":true}`)

	var statuses []int
	for _, r := range rc.Requests() {
		statuses = append(statuses, r.Status)
		if string(r.Body) != "echo me" {
			t.Errorf("recorded body %q", r.Body)
		}
	}
	if want := []int{200, 503, 201, 202, 207, 200, 202}; !slices.Equal(statuses, want) {
		t.Errorf("recorded statuses %v, want %v", statuses, want)
	}
}

func TestReceiverHoldsRequestsUntilReleased(t *testing.T) {
	rc := testkit.NewReceiver(t)
	release := rc.Hold()
	answered := make(chan int, 1)
	go func() {
		status, _, _, err := do(http.MethodPost, rc.URL()+"/held", nil, nil)
		if err != nil {
			t.Errorf("the held request: %v", err)
		}
		answered <- status
	}()
	held := rc.WaitForCount(t, 1, 10*time.Second)
	if held[0].Status != 0 {
		t.Errorf("a held request is recorded with status %d, want 0 (not answered)", held[0].Status)
	}
	select {
	case s := <-answered:
		t.Fatalf("a held request was answered (%d)", s)
	default:
	}
	rc.SetStatus(http.StatusInternalServerError)
	release()
	release() // again: a no-op
	select {
	case s := <-answered:
		if s != http.StatusInternalServerError {
			t.Errorf("released request answered %d, want 500 (as the receiver is set on release)", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the released request was not answered")
	}
	if s := post(t, rc); s != http.StatusInternalServerError {
		t.Errorf("a request after release answered %d, want 500 at once", s)
	}
	for i, r := range rc.Requests() {
		if r.Status != http.StatusInternalServerError {
			t.Errorf("request %d recorded with status %d, want 500", i, r.Status)
		}
	}
}

func TestReceiverWaitForCountFailsOnMoreRequestsOrATimeout(t *testing.T) {
	rc := testkit.NewReceiver(t)
	post(t, rc)
	post(t, rc)
	f := newFakeTB(t)
	if got := rc.WaitForCount(f, 2, time.Second); len(got) != 2 {
		t.Errorf("WaitForCount(2) returned %d requests", len(got))
	}
	rc.WaitForCount(f, 1, time.Second)
	rc.WaitForCount(f, 3, 20*time.Millisecond)
	want := []string{
		"the receiver got 2 requests, want 1",
		"timed out after 20ms waiting for 3 requests at the receiver; last: 2 requests",
	}
	if fatals, _ := f.failures(); !slices.Equal(fatals, want) {
		t.Errorf("failures %q, want %q", fatals, want)
	}
}

func TestReceiverStaysAtFailsAsSoonAsARequestArrives(t *testing.T) {
	rc := testkit.NewReceiver(t)
	f := newFakeTB(t)
	rc.StaysAt(f, 0, 10*time.Millisecond)
	if fatals, _ := f.failures(); len(fatals) != 0 {
		t.Fatalf("StaysAt with nothing sent failed: %q", fatals)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rc.StaysAt(f, 0, time.Hour)
	}()
	post(t, rc)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("StaysAt did not return when a request arrived")
	}
	want := []string{"the receiver has 1 requests, want still 0"}
	if fatals, _ := f.failures(); !slices.Equal(fatals, want) {
		t.Errorf("failures %q, want %q", fatals, want)
	}
}

// sendCut sends a request whose body stops short of its Content-Length,
// and returns the status of the answer.
func sendCut(t *testing.T, rc *testkit.Receiver) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(rc.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /cut HTTP/1.1\r\nHost: receiver\r\nContent-Length: 100\r\n\r\npartial"); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer to a cut-off request: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReceiverFailsTheTestOnACutOffBodyUnlessAllowed(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowed=%v", allow), func(t *testing.T) {
			f := newFakeTB(t)
			rc := testkit.NewReceiver(f)
			if allow {
				rc.AllowCutBodies()
			}
			if s := sendCut(t, rc); s != http.StatusOK {
				t.Errorf("answered %d, want 200", s)
			}
			got := rc.Requests()
			if len(got) != 1 || string(got[0].Body) != "partial" || got[0].BodyErr == nil {
				t.Fatalf("recorded %+v, want the 7 bytes and the error", got)
			}
			_, errs := f.failures()
			if allow && len(errs) != 0 {
				t.Errorf("with AllowCutBodies the test failed: %q", errs)
			}
			if !allow && (len(errs) != 1 || !strings.Contains(errs[0], "POST /cut: body cut off after 7 bytes")) {
				t.Errorf("errors %q, want one saying the body of POST /cut was cut off after 7 bytes", errs)
			}
		})
	}
}
