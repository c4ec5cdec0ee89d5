package faults

import (
	"context"
	"fmt"
	"sync/atomic"
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

// SIGTERM to one of two sender processes under load: it stops fetching,
// finishes the attempts in flight (within its --timeout), gives back what
// it had not attempted and exits 0 within --timeout plus a margin. The
// other sender delivers the rest at once, long before the 60 s ack wait
// would have freed deliveries the stopped one kept: nothing is lost.
func TestSIGTERMDrainsASender(t *testing.T) {
	t.Parallel()
	skipShort(t)
	const (
		events      = 3000
		timeout     = 2 * time.Second
		margin      = 8 * time.Second // closing the NATS connection, and a loaded machine
		perEndpoint = 16
	)
	type bundle struct {
		rc                *receiver
		stopping, staying *process
		evs               []schemas.Event
		pub               <-chan published
		state             func() string
	}
	// setup starts two senders and publishes; it returns once both have
	// attempts waiting at the receiver, which holds its answers.
	setup := func(t *testing.T) *bundle {
		t.Helper()
		srv := brokertest.Server(t, "")
		b := brokertest.Open(t, srv, broker.Topology{})
		bb := &bundle{rc: newReceiver(t, 50*time.Millisecond), evs: newEvents(events)}
		router := runPipeline(t, pipeline.Config{Broker: b, Roles: pipeline.Roles{Router: true}, Egress: egress.Policy{AllowLoopback: true}})
		storeWebhook(t, router, "wh_drain", bb.rc.URL)
		args := []string{"--timeout", timeout.String(), "--max-per-endpoint", fmt.Sprint(perEndpoint)}
		bb.stopping = startSender(t, "sender 1", srv.ClientURL(), args...)
		bb.staying = startSender(t, "sender 2", srv.ClientURL(), args...)
		bb.pub = publishAsync(t, router.Producer, bb.evs, 500, nil)
		bb.state = brokerState(b, router)
		waitFor(t, bb.rc.reached(events/3), 2*time.Minute, "a third of the events delivered", bb.rc.String, bb.state)
		// More attempts wait at the receiver than one sender may make at
		// once to it: both have attempts in flight.
		bb.rc.pause()
		waitFor(t, bb.rc.holding(perEndpoint+1), time.Minute, "both senders have attempts in flight", bb.rc.String, bb.state)
		return bb
	}
	// finish waits for every event and stops the other sender.
	finish := func(t *testing.T, bb *bundle, termAt time.Time, exitedIn time.Duration) report {
		t.Helper()
		require.Empty(t, waitPublished(t, bb.pub, bb.rc.String, bb.state).retried)
		waitFor(t, bb.rc.reached(events), 45*time.Second, "every event delivered by the other sender within 45s", bb.rc.String, bb.state)
		bb.rc.requireAll(t, "/", "wh_drain", bb.evs)
		rep := bb.rc.report()
		t.Logf("drain report: exited 0 in %s (bound %s); every event delivered %.1fs after SIGTERM; %d deliveries of %d events, %d duplicates",
			exitedIn.Round(time.Millisecond), timeout+margin, time.Since(termAt).Seconds(), rep.Deliveries, events, rep.Duplicates)
		bb.staying.signal(t, syscall.SIGTERM)
		require.Equal(t, 0, bb.staying.wait(t, timeout+margin).ExitCode(), "exit 0 after SIGTERM:\n%s", bb.staying.out.String())
		return rep
	}

	// The receiver answers (after 50 ms) right after the signal: the
	// attempts in flight end in a 200, are acknowledged, and nothing
	// arrives twice.
	t.Run("SlowReceiver", func(t *testing.T) {
		t.Parallel()
		bb := setup(t)
		termAt := time.Now()
		bb.stopping.signal(t, syscall.SIGTERM)
		bb.rc.resume()
		state := bb.stopping.wait(t, timeout+margin)
		exitedIn := time.Since(termAt)
		require.Equal(t, 0, state.ExitCode(), "exit 0 after SIGTERM:\n%s", bb.stopping.out.String())
		rep := finish(t, bb, termAt, exitedIn)
		require.Zero(t, rep.Duplicates, "attempts in flight at SIGTERM were finished and acknowledged")
	})

	// The receiver does not answer until the sender has exited: its
	// attempts in flight end at --timeout, and it still exits 0 within the
	// bound. They are retried by the other sender, with the same
	// webhook-id.
	t.Run("StuckReceiver", func(t *testing.T) {
		t.Parallel()
		bb := setup(t)
		termAt := time.Now()
		bb.stopping.signal(t, syscall.SIGTERM)
		state := bb.stopping.wait(t, timeout+margin)
		exitedIn := time.Since(termAt)
		bb.rc.resume()
		require.Equal(t, 0, state.ExitCode(), "exit 0 after SIGTERM:\n%s", bb.stopping.out.String())
		finish(t, bb, termAt, exitedIn)
	})
}

// Two router processes share the events; one gets SIGTERM a third of the
// way through and exits 0, having acknowledged only events whose
// deliveries were stored. The other routes the rest, and the events the
// stopped one had not acknowledged, at once: every event delivered, and
// none twice (a delivery stored twice is one delivery: its id is the
// Nats-Msg-Id).
func TestSIGTERMDrainsARouter(t *testing.T) {
	t.Parallel()
	skipShort(t)
	const events = 10_000
	srv := brokertest.Server(t, "")
	b := brokertest.Open(t, srv, broker.Topology{})
	rc := newReceiver(t, 0)
	senders := runPipeline(t, pipeline.Config{Broker: b, Roles: pipeline.Roles{Sender: true}, Egress: egress.Policy{AllowLoopback: true}})
	storeWebhook(t, senders, "wh_route", rc.URL)
	stopping := startRole(t, "router", "router 1", srv.ClientURL())
	staying := startRole(t, "router", "router 2", srv.ClientURL())

	// SIGTERM while the events are still being published: the stopping
	// router is in the middle of routing them.
	evs := newEvents(events)
	var termAt atomic.Int64 // unix ns
	pub := publishAsync(t, senders.Producer, evs, 500, func(_ context.Context, stored int) {
		if stored >= events/3 && termAt.CompareAndSwap(0, time.Now().UnixNano()) {
			_ = stopping.cmd.Process.Signal(syscall.SIGTERM)
		}
	})
	state := brokerState(b, senders)
	exit := stopping.wait(t, 30*time.Second)
	require.Equal(t, 0, exit.ExitCode(), "exit 0 after SIGTERM:\n%s", stopping.out.String())
	exitedIn := stopping.exitedAt.Sub(time.Unix(0, termAt.Load()))
	require.Empty(t, waitPublished(t, pub, rc.String, state).retried)
	// Within 15 s: what the stopped router had fetched was routed before it
	// exited, not left for the consumer's ack wait (30 s) to hand out again.
	// (The senders may take longer on a loaded machine: they are not what
	// this test is about.)
	waitFor(t, acknowledged(t, b, broker.StreamEvents, broker.ConsumerRouter), 15*time.Second,
		"every event routed and acknowledged within 15s", rc.String, state)
	waitFor(t, rc.reached(events), 2*time.Minute, "every event delivered", rc.String, state)
	rc.requireAll(t, "/", "wh_route", evs)
	rep := rc.report()
	require.Zero(t, rep.Duplicates, "no event routed twice into two deliveries")
	t.Logf("router drain report: exited 0 in %s; %d events, %d deliveries, %d duplicates",
		exitedIn.Round(time.Millisecond), events, rep.Deliveries, rep.Duplicates)
	staying.signal(t, syscall.SIGTERM)
	require.Equal(t, 0, staying.wait(t, 20*time.Second).ExitCode(), "exit 0 after SIGTERM:\n%s", staying.out.String())
}
