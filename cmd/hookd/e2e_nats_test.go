package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/internal/testkit"
)

// natsServerBin builds nats-server from the module the tests already
// depend on (github.com/nats-io/nats-server/v2, in go.mod), once per test
// binary, unless HOOKD_TEST_NATS_SERVER names a binary to use.
var natsServerBin = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("HOOKD_TEST_NATS_SERVER"); p != "" {
		return p, nil
	}
	dir, err := os.MkdirTemp("", "hookd-nats-server-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nats-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build nats-server: %v\n%s", err, out)
	}
	return bin, nil
})

// natsProcess is a nats-server process with JetStream on a loopback port.
type natsProcess struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startNATSProcess(t *testing.T) *natsProcess {
	t.Helper()
	bin, err := natsServerBin()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	// max_payload as the README says to set it (no flag for it).
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte("max_payload: 8MB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", t.TempDir())
	logs := &lines{}
	cmd.Stdout, cmd.Stderr = &lineWriter{logs: logs, prefix: "nats: "}, &lineWriter{logs: logs, prefix: "nats: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &natsProcess{url: fmt.Sprintf("nats://127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- nats-server output ---\n%s", logs)
		}
	})
	testkit.WaitUntil(t, startTimeout, "nats-server to accept connections", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return p
}

// startShared starts `hookd serve` on the shared log with its own data
// directory; sends time out after 2 s, so a dead process's claims come
// back after 12 s.
func startShared(t *testing.T, name, natsURL, data string) *server {
	t.Helper()
	return startServer(t, name, data, "HOOKD_LOG="+natsURL, "HOOKD_SECRET_KEY="+sharedKey, "HOOKD_SEND_TIMEOUT=2s", "HOOKD_CONNECT_TIMEOUT=1s",
		"HOOKD_MAX_IN_FLIGHT="+strconv.Itoa(sharedInFlight))
}

// sharedKey seals hook secrets on every process of the shared log.
const sharedKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// sharedInFlight is each process's --max-in-flight: the most sends a
// killed process can have under way, so the most that can be repeated.
const sharedInFlight = 16

// postBuildEvent reports a build event through s and returns its id, or
// "" if s did not acknowledge it.
func postBuildEvent(ctx context.Context, s *server, n int) (string, error) {
	body := fmt.Sprintf(`{"build_slug":"b-%d","build_number":%d,"app_slug":%q,"build_status":1}`, n, n, crashApp)
	code, b, err := (&crashLoad{client: httpClient}).post(ctx, s.base+"/v0.1/apps/"+crashApp+"/build-events", "build/finished", body)
	if err != nil || code != http.StatusAccepted {
		return "", err
	}
	var acc struct {
		Data struct {
			EventID string `json:"event_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &acc); err != nil {
		return "", err
	}
	return acc.Data.EventID, nil
}

// Three hookd processes on one NATS server form one service: hooks made
// through one are served by all, build events reported to any are
// delivered once per hook; after a SIGKILL of one under load the others
// send everything, repeating at most what the dead one had in flight,
// with the same Webhook-Id; the survivors' views agree, and the killed
// one catches up after a restart.
func TestThreeProcessesOnJetStreamDeliverEachPairOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a NATS server and three hookd processes for about a minute: make test-cluster runs it")
	}
	nats := startNATSProcess(t)
	recv := testkit.NewReceiver(t)
	datas := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	procs := []*server{
		startShared(t, "hookd A", nats.url, datas[0]),
		startShared(t, "hookd B", nats.url, datas[1]),
		startShared(t, "hookd C", nats.url, datas[2]),
	}

	// Two hooks, created through A; every process serves them once it has
	// caught up.
	var slugs []string
	for i := range 2 {
		var created struct {
			Data struct{ Slug string } `json:"data"`
		}
		body := fmt.Sprintf(`{"url":%q,"events":["build/finished"]}`, recv.URL()+"/hook-"+strconv.Itoa(i))
		procs[0].mustCall(t, http.MethodPost, "/v0.1/apps/"+crashApp+"/outgoing-webhooks", body, nil, http.StatusOK, &created)
		slugs = append(slugs, created.Data.Slug)
	}
	for _, p := range procs {
		for _, slug := range slugs {
			testkit.WaitUntil(t, pollTimeout, p.name+" to serve hook "+slug, func() bool {
				code, _ := p.call(t, http.MethodGet, "/v0.1/apps/"+crashApp+"/outgoing-webhooks/"+slug, "", nil)
				return code == http.StatusOK
			})
		}
	}

	// 1. No crash: build events sent round-robin; every pair once.
	const quiet = 30
	var acked []string
	for n := range quiet {
		id, err := postBuildEvent(t.Context(), procs[n%3], n)
		if err != nil || id == "" {
			t.Fatalf("build event %d through %s: %v", n, procs[n%3].name, err)
		}
		acked = append(acked, id)
	}
	recv.WaitForCount(t, quiet*len(slugs), 2*pollTimeout)
	byID := recv.ByHeader("Webhook-Id")
	for _, ev := range acked {
		for _, slug := range slugs {
			if got := len(byID[domain.DeliveryID(ev, slug)]); got != 1 {
				t.Errorf("event %s to hook %s delivered %d times, want once", ev, slug, got)
			}
		}
	}
	if n := recv.Count(); n != quiet*len(slugs) {
		t.Fatalf("%d deliveries for %d pairs without a crash, want exactly one each", n, quiet*len(slugs))
	}

	// 2. Load through all three, to a receiver that takes a while to
	// answer, so that every process has sends under way; the one holding
	// the matcher lease is killed part way, so another must take over
	// matching and the sends it had claimed.
	victim := -1
	testkit.WaitUntil(t, pollTimeout, "one process to say it matches build events", func() bool {
		for i, p := range procs {
			if strings.Contains(p.logs.String(), "this process matches build events now") {
				victim = i
				return true
			}
		}
		return false
	})
	recv.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // a slow receiver, not a synchronisation
		w.WriteHeader(http.StatusOK)
	})
	const loaded = 150
	var mu sync.Mutex
	for n := quiet; n < quiet+loaded; n++ {
		killed := n >= quiet+loaded/3
		if n == quiet+loaded/3 {
			if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-procs[victim].done
		}
		p := procs[n%3]
		if killed && n%3 == victim {
			p = procs[(n+1)%3] // its clients go to another
		}
		id, _ := postBuildEvent(t.Context(), p, n)
		if id != "" {
			mu.Lock()
			acked = append(acked, id)
			mu.Unlock()
		}
	}
	waitEveryPairDelivered(t, recv, acked, slugs)

	// 3. The survivors' views agree once both have recorded every attempt;
	// the killed process, restarted, catches up to the same.
	var survivors []*server
	for i, p := range procs {
		if i != victim {
			survivors = append(survivors, p)
		}
	}
	attempts := func(s *server) int { return itemTotal(t, s, slugs) }
	// One item per delivery id: a repeated send is recorded once.
	pairs := func() int { return len(recv.ByHeader("Webhook-Id")) }
	for _, s := range survivors {
		testkit.WaitUntilf(t, pollTimeout, s.name+"'s views to show every attempt", func() (bool, string) {
			n := attempts(s)
			return n >= pairs(), fmt.Sprintf("%d items, %d delivery ids received", n, pairs())
		})
	}
	repeats := recv.Count() - pairs()
	t.Logf("%d acknowledged events, %d deliveries, %d distinct Webhook-Ids, %d repeats", len(acked), recv.Count(), pairs(), repeats)
	if repeats > sharedInFlight {
		t.Errorf("%d deliveries repeated after the kill; at most %d (the killed process's sends in flight) may be", repeats, sharedInFlight)
	}
	want := crashViews(t, survivors[0], slugs)
	if got := crashViews(t, survivors[1], slugs); !reflect.DeepEqual(got, want) {
		t.Errorf("%s's views differ from %s's", survivors[1].name, survivors[0].name)
	}
	restarted := startShared(t, procs[victim].name+" again", nats.url, datas[victim])
	testkit.WaitUntil(t, pollTimeout, "the restarted process to catch up", func() bool { return attempts(restarted) == attempts(survivors[0]) })
	if got := crashViews(t, restarted, slugs); !reflect.DeepEqual(got, want) {
		t.Errorf("the restarted %s's views differ from %s's", procs[victim].name, survivors[0].name)
	}
	for _, s := range survivors {
		if strings.Contains(s.logs.String(), "this process matches build events now") {
			return
		}
	}
	t.Errorf("no surviving process took the matcher lease over")
}

// waitEveryPairDelivered waits until every (build event, hook) pair of
// the acknowledged events has reached recv at least once.
func waitEveryPairDelivered(t *testing.T, recv *testkit.Receiver, acked, slugs []string) {
	t.Helper()
	testkit.WaitUntilf(t, 4*pollTimeout, "every acknowledged pair to be delivered", func() (bool, string) {
		byID := recv.ByHeader("Webhook-Id")
		missing := 0
		for _, ev := range acked {
			for _, slug := range slugs {
				if len(byID[domain.DeliveryID(ev, slug)]) == 0 {
					missing++
				}
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d pairs missing", missing, len(acked)*len(slugs))
	})
}
