package faults

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/sender"
)

// cluster starts n embedded JetStream nodes in this process forming one
// cluster, and shuts them down when the test ends. It returns the nodes by
// server name and the client URLs, comma-separated.
func cluster(t *testing.T, n int) (map[string]*server.Server, string) {
	t.Helper()
	routes := make([]string, n)
	listen := make([]string, n)
	for i := range n {
		listen[i] = freeAddr(t)
		routes[i] = "nats-route://" + listen[i]
	}
	nodes := map[string]*server.Server{}
	var urls []string
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		s := brokertest.Start(t, broker.EmbeddedConfig{ServerName: name,
			Cluster: broker.ClusterConfig{Name: "faults", Listen: listen[i], Routes: routes}})
		nodes[name] = s
		urls = append(urls, s.ClientURL())
	}
	return nodes, strings.Join(urls, ",")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// streamLeader names the server leading a stream.
func streamLeader(t *testing.T, b *broker.Broker, stream string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var leader string
	require.Eventually(t, func() bool {
		s, err := b.JS.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil {
			return false
		}
		leader = info.Cluster.Leader
		return leader != ""
	}, 30*time.Second, 50*time.Millisecond, "%s has a leader", stream)
	return leader
}

// consumerLeader names the server leading a durable consumer, or "?".
func consumerLeader(b *broker.Broker, stream, consumer string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := b.JS.Consumer(ctx, stream, consumer)
	if err != nil {
		return "?"
	}
	info, err := c.Info(ctx)
	if err != nil || info.Cluster == nil {
		return "?"
	}
	return info.Cluster.Leader
}

// A three-node cluster with R3 streams loses the DELIVERIES stream leader a
// third of the way through a 10,000-event run: the streams elect new
// leaders on the other two nodes, publishes refused meanwhile are made
// again, and every event is delivered.
func TestLoseTheStreamLeader(t *testing.T) {
	t.Parallel()
	skipShort(t)
	const (
		events  = 10_000
		backlog = 2000 // published ahead of delivered, so that publishing spans the run
	)
	nodes, urls := cluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := broker.Open(ctx, broker.Config{URLs: urls, Name: t.Name(), Logger: quietLogger(),
		Topology: broker.Topology{Replicas: 3, SenderAckWait: 15 * time.Second}})
	require.NoError(t, err)
	t.Cleanup(b.Close)

	rc := newReceiver(t, 0)
	p := runPipeline(t, pipeline.Config{Broker: b, Roles: pipeline.Roles{Router: true, Sender: true},
		Egress: egress.Policy{AllowLoopback: true}, Client: sender.ClientConfig{Timeout: 5 * time.Second},
		Sender: sender.Config{RetrySchedule: []time.Duration{100 * time.Millisecond, time.Second, 5 * time.Second}}})
	storeWebhook(t, p, "wh_nodes", rc.URL)

	evs := newEvents(events)
	start := time.Now()
	pub := publishAsync(t, p.Producer, evs, 250, func(ctx context.Context, stored int) {
		select {
		case <-rc.reached(stored - backlog):
		case <-ctx.Done():
		}
	})
	state := brokerState(b, p)
	waitFor(t, rc.reached(events/3), 2*time.Minute, "a third of the events delivered", rc.String, state, stacks)

	deliveries, evLeader := streamLeader(t, b, broker.StreamDeliveries), streamLeader(t, b, broker.StreamEvents)
	routerLeader := consumerLeader(b, broker.StreamEvents, broker.ConsumerRouter)
	senderLeader := consumerLeader(b, broker.StreamDeliveries, broker.ConsumerSender)
	victim := nodes[deliveries]
	require.NotNil(t, victim, "leader %q is one of ours", deliveries)
	atLoss := rc.report()
	lostAt := time.Now()
	victim.Shutdown()
	victim.WaitForShutdown()

	res := waitPublished(t, pub, rc.String, state, stacks)
	waitFor(t, rc.reached(events), 3*time.Minute, "every event delivered", rc.String, state, stacks)
	rc.requireAll(t, "/", "wh_nodes", evs)
	rep := rc.report()
	t.Logf("node loss report: stopped %s (leader of DELIVERIES; EVENTS, consumer router and consumer sender led by %s, %s, %s) "+
		"at %d of %d delivered; new leaders DELIVERIES %s, EVENTS %s; %d publishes retried; all delivered %.1fs after, %.1fs in all; "+
		"%d deliveries, %d duplicates", deliveries, evLeader, routerLeader, senderLeader, atLoss.Distinct, events,
		streamLeader(t, b, broker.StreamDeliveries), streamLeader(t, b, broker.StreamEvents),
		len(res.retried), time.Since(lostAt).Seconds(), time.Since(start).Seconds(), rep.Deliveries, rep.Duplicates)
	for _, err := range res.retried {
		t.Logf("retried publish: %v", err)
	}
}
