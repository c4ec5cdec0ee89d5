package faults

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/sender"
)

// 10 of 100 webhooks point at a server that accepts connections and never
// answers. The other 90 receive every one of 200 events, and the circuits
// of the 10 open. (The speed of the healthy ones beside the black holes is
// measured by the benchmark, not here.)
func TestBlackHoleEndpoints(t *testing.T) {
	t.Parallel()
	skipShort(t)
	const (
		events  = 200
		healthy = 90
		broken  = 10
	)
	srv := brokertest.Server(t, "")
	b := brokertest.Open(t, srv, broker.Topology{})
	rc := newReceiver(t, 0)
	hole, accepted := blackhole(t)
	p := runPipeline(t, pipeline.Config{Broker: b, Roles: pipeline.Roles{Router: true, Sender: true},
		Egress: egress.Policy{AllowLoopback: true}, Client: sender.ClientConfig{Timeout: time.Second}})
	for i := range healthy {
		storeWebhook(t, p, fmt.Sprintf("wh_ok_%02d", i), fmt.Sprintf("%s/ok/%02d", rc.URL, i))
	}
	for i := range broken {
		storeWebhook(t, p, fmt.Sprintf("wh_hole_%02d", i), fmt.Sprintf("%s/hole/%02d", hole, i))
	}

	evs := newEvents(events)
	start := time.Now()
	state := brokerState(b, p)
	require.Empty(t, waitPublished(t, publishAsync(t, p.Producer, evs, events, nil), state).retried)
	waitFor(t, rc.reached(healthy*events), 2*time.Minute, "every healthy webhook gets every event", rc.String, state, stacks)
	took := time.Since(start)
	for i := range healthy {
		rc.requireAll(t, fmt.Sprintf("/ok/%02d", i), fmt.Sprintf("wh_ok_%02d", i), evs)
	}
	require.Eventually(t, func() bool { return p.Sender.Stats().OpenCircuits == broken }, time.Minute, 10*time.Millisecond,
		"the black holes' circuits open: %+v", p.Sender.Stats())
	rep, st := rc.report(), p.Sender.Stats()
	t.Logf("black hole report: %d healthy deliveries (%d distinct) in %.1fs beside %d black holes "+
		"(%d connections accepted); open circuits %d, attempts %d, by class %v, sent back %d",
		rep.Deliveries, rep.Distinct, took.Seconds(), broken, accepted(), st.OpenCircuits, st.Attempts, st.ByClass, st.SentBack)
}
