package faults

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/schemas"
)

// storeWebhook saves a webhook of tenant "default" subscribed to every event
// type, straight into the KV store.
func storeWebhook(t *testing.T, p *pipeline.Pipeline, id, url string) {
	t.Helper()
	require.NoError(t, p.Store.Create(context.Background(), &schemas.Webhook{
		ID: id, TenantID: "default", Name: id, URL: url, Events: []string{"*"},
		Secrets: []schemas.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, IncludePayload: true, Enabled: true,
	}))
	require.NoError(t, p.Index.Sync(context.Background()))
}

// Three sender processes share 10,000 deliveries; one is killed with
// SIGKILL when about a third have arrived, while attempts of its are in
// flight. What it held comes back to the other two once the consumer's ack
// wait has passed: every event arrives at least once, and an event that
// arrives twice carries the same webhook-id both times, so the receiver can
// drop the repeat.
func TestKillASender(t *testing.T) {
	t.Parallel()
	skipShort(t)
	const (
		events  = 10_000
		ackWait = 20 * time.Second // what the killed sender held waits this long
	)
	topo := broker.Topology{SenderAckWait: ackWait}
	srv := brokertest.Server(t, "")
	b := brokertest.Open(t, srv, topo)
	rc := newReceiver(t, 0)
	router := runPipeline(t, pipeline.Config{Broker: b, Roles: pipeline.Roles{Router: true}, Egress: egress.Policy{AllowLoopback: true}})
	storeWebhook(t, router, "wh_kill", rc.URL)

	// Each sender has at most perEndpoint attempts in flight to the one
	// webhook: more than twice as many waiting at the receiver means every
	// sender has some.
	const perEndpoint = 8
	args := []string{"--timeout", "5s", "--sender-ack-wait", ackWait.String(), "--max-per-endpoint", fmt.Sprint(perEndpoint)}
	senders := make([]*process, 3)
	for i := range senders {
		senders[i] = startSender(t, fmt.Sprintf("sender %d", i+1), srv.ClientURL(), args...)
	}

	evs := newEvents(events)
	start := time.Now()
	pub := publishAsync(t, router.Producer, evs, 500, nil)
	state := brokerState(b, router)

	waitFor(t, rc.reached(events/3), 2*time.Minute, "a third of the events delivered", rc.String, state)
	// Hold the answers for a moment, so that the victim is surely in the
	// middle of attempts when it dies.
	rc.pause()
	waitFor(t, rc.holding(2*perEndpoint+1), time.Minute, "every sender has attempts in flight", rc.String, state)
	atKill := rc.report()
	victim := senders[1]
	require.NoError(t, victim.cmd.Process.Kill())
	exit := victim.wait(t, 10*time.Second)
	killedAt := time.Now()
	rc.resume()
	ws, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "killed by SIGKILL: %s", exit)
	require.Empty(t, waitPublished(t, pub, rc.String, state).retried, "a single server refuses no publish")

	waitFor(t, rc.reached(events), 3*time.Minute, "every event delivered", rc.String, state)
	recovered := time.Since(killedAt)
	rc.requireAll(t, "/", "wh_kill", evs)
	rep := rc.report()
	require.Positive(t, rep.Duplicates, "the attempts the victim had in flight are made again")
	t.Logf("kill -9 report: %d events, %d deliveries, %d distinct, %d duplicates (same webhook-id); "+
		"killed at %d distinct, all delivered %.1fs later (ack wait %s), %.1fs in all",
		events, rep.Deliveries, rep.Distinct, rep.Duplicates, atKill.Distinct, recovered.Seconds(), ackWait, time.Since(start).Seconds())

	for _, s := range []*process{senders[0], senders[2]} {
		s.signal(t, syscall.SIGTERM)
	}
	for _, s := range []*process{senders[0], senders[2]} {
		exit := s.wait(t, 15*time.Second)
		require.Equal(t, 0, exit.ExitCode(), "%s exits 0 on SIGTERM:\n%s", s.name, s.out.String())
	}
}
