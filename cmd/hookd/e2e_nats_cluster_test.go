package main

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/hookd/hookd/internal/natstest"
	"github.com/hookd/hookd/internal/testkit"
)

// Two hookd processes on a three-node JetStream cluster (R3 stream), each
// given every node: one NATS node is killed under load (the one holding
// the stream's leadership is as likely as any), and delivery goes on:
// every build event acknowledged before, during and after is delivered
// to every hook.
func TestDeliveryContinuesWhenAClusterNodeDiesOnJetStream(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a NATS cluster and two hookd processes through a failover: make test-cluster runs it")
	}
	c := natstest.RunCluster(t)
	recv := testkit.NewReceiver(t)
	start := func(name string) *server {
		return startServer(t, name, t.TempDir(), "HOOKD_LOG="+c.URL(), "HOOKD_NATS_REPLICAS=3", "HOOKD_SECRET_KEY="+sharedKey,
			"HOOKD_SEND_TIMEOUT=2s", "HOOKD_CONNECT_TIMEOUT=1s")
	}
	procs := []*server{start("hookd A"), start("hookd B")}
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
		testkit.WaitUntil(t, pollTimeout, p.name+" to serve the hooks", func() bool {
			code, _ := p.call(t, http.MethodGet, "/v0.1/apps/"+crashApp+"/outgoing-webhooks/"+slugs[1], "", nil)
			return code == http.StatusOK
		})
	}

	const events = 90
	var acked []string
	for n := range events {
		if n == events/3 {
			c.Stop(n % 3) // a crash: routes cut first, no leadership handed over
		}
		// A request that fails while the cluster elects a new leader is
		// the client's to retry, as a CI would: up to a bound.
		var id string
		for try := 0; try < 30 && id == ""; try++ {
			id, _ = postBuildEvent(t.Context(), procs[n%2], n)
		}
		if id == "" {
			t.Fatalf("build event %d was refused 30 times in a row after the node died", n)
		}
		acked = append(acked, id)
	}
	waitEveryPairDelivered(t, recv, acked, slugs)
	t.Logf("%d events, %d deliveries, %d distinct Webhook-Ids", len(acked), recv.Count(), len(recv.ByHeader("Webhook-Id")))
}
