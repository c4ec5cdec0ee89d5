package faults

import (
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
