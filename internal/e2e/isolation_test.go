package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
)

// blackhole accepts requests and never answers (until the test ends); it
// counts them.
type blackhole struct {
	*httptest.Server
	total atomic.Int32
}

func newBlackhole(t *testing.T) *blackhole {
	t.Helper()
	bh := &blackhole{}
	release := make(chan struct{})
	bh.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bh.total.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); bh.Close() })
	return bh
}

// One receiver that never answers takes at most its share of the workers:
// the healthy receiver gets everything, the broken one's circuit opens and
// its deliveries wait outside the workers and the consumer, counted as the
// attempts they really were.
func TestABrokenReceiverDoesNotSlowTheOthers(t *testing.T) {
	t.Parallel()
	const perEndpoint = 2
	e := start(t, options{schedule: []time.Duration{time.Hour}, tune: func(c *pipeline.Config) {
		c.Sender.Workers = 4
		c.Sender.MaxPerEndpoint = perEndpoint
		c.Sender.Breaker = sender.BreakerConfig{Failures: 2, Cooldown: time.Hour}
		c.Client.Timeout = 200 * time.Millisecond
	}})
	bh := newBlackhole(t)
	healthy := newReceiver(t, nil)
	e.storeWebhook(&schemas.Webhook{ID: "wh_broken", Name: "broken", URL: bh.URL, Events: []string{"*"}})
	e.storeWebhook(&schemas.Webhook{ID: "wh_healthy", Name: "healthy", URL: healthy.URL, Events: []string{"*"}})

	const n = 60
	evs := make([]schemas.Event, n)
	for i := range evs {
		evs[i] = *syncStarted("org_1")
	}
	_, err := e.p.Producer.PublishBatch(context.Background(), evs)
	require.NoError(t, err)
	for range n {
		healthy.next(t)
	}
	require.Eventually(t, func() bool { return e.p.Sender.Stats().OpenCircuits == 1 }, 10*time.Second, 5*time.Millisecond)
	e.settle()

	st := e.p.Sender.Stats()
	sent := bh.total.Load()
	// Its cap of attempts, then one queued behind them that started when
	// the first timed out; the second timeout opened the circuit.
	require.LessOrEqual(t, sent, int32(perEndpoint+1), "the broken receiver got no more than its share")
	require.Equal(t, uint64(n)+uint64(sent), st.Attempts, "attempts counted are the requests really made")
	require.GreaterOrEqual(t, st.SentBack, uint64(n)-uint64(sent), "the rest wait outside, not counted as attempts")
	// Deliveries sent back while the queue was full come back in a second or
	// two, meet the open circuit and go back out for its cooldown (an hour):
	// then nothing holds a consumer slot.
	require.Eventually(t, func() bool {
		pending, ackPending := senderPending(t, e)
		return pending == 0 && ackPending == 0
	}, 15*time.Second, 10*time.Millisecond, "waiting deliveries hold no consumer slot")

	// The senders share the hold (the circuit's cooldown) in webhook_health,
	// and the router schedules the broken webhook's new deliveries for its
	// end: they are no longer fetched and sent back.
	require.Eventually(t, func() bool {
		ent, err := e.b.Health.Get(context.Background(), "default.wh_broken")
		if err != nil {
			return false
		}
		var h schemas.WebhookHealth
		return schemas.Unmarshal(ent.Value(), &h) == nil && h.HoldUntil.After(time.Now().Add(30*time.Minute))
	}, 10*time.Second, 10*time.Millisecond, "the hold is shared")
	sentBack, held := e.p.Sender.Stats().SentBack, e.p.Router.Stats().Held
	e.publish(syncStarted("org_1"))
	healthy.next(t)
	require.Eventually(t, func() bool { return e.p.Router.Stats().Held == held+1 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, sentBack, e.p.Sender.Stats().SentBack, "the held delivery never reached a sender")
}

// A slow receiver's queue is sized to the senders' ack wait: no delivery
// waits in it so long that JetStream hands it out again, so each is
// attempted once even when all of them take longer than the ack wait.
func TestASlowReceiversQueueFitsTheAckWait(t *testing.T) {
	t.Parallel()
	// The queue may hold 1 s of attempts: half of what the ack wait leaves
	// after the 2 s timeout. The timeout is far above the receiver's 300 ms
	// so a loaded machine does not time attempts out; a few quick retries
	// cover one that does.
	const ackWait = 4 * time.Second
	e := start(t, options{schedule: []time.Duration{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond},
		topology: broker.Topology{SenderAckWait: ackWait}, tune: func(c *pipeline.Config) {
			c.Sender.Workers = 4
			c.Sender.MaxPerEndpoint = 1
			c.Client.Timeout = 2 * time.Second
		}})
	slow := newReceiver(t, func(int, request) int {
		time.Sleep(300 * time.Millisecond) // slower than a fast endpoint: no waiting for room
		return http.StatusOK
	})
	e.storeWebhook(&schemas.Webhook{ID: "wh_slow", Name: "slow", URL: slow.URL, Events: []string{"sync.*"}})

	// One delivery first, so the sender knows the endpoint's latency and
	// sizes its queue by it.
	_, err := e.p.Producer.Publish(context.Background(), syncStarted("org_1"))
	require.NoError(t, err)
	slow.next(t)

	const n = 16 // 4.8 s of attempts one at a time: beyond the ack wait
	evs := make([]schemas.Event, n)
	for i := range evs {
		evs[i] = *syncStarted("org_1")
	}
	_, err = e.p.Producer.PublishBatch(context.Background(), evs)
	require.NoError(t, err)
	for range n {
		slow.next(t)
	}
	e.settle()
	seen := map[string]int{}
	for _, r := range slow.all() {
		if r.Event.Type != "webhook.ping" {
			seen[r.Header.Get("webhook-id")]++
		}
	}
	require.Len(t, seen, n+1, "every delivery arrived")
	for id, times := range seen {
		require.Equal(t, 1, times, "attempted once: %s", id)
	}
}

// A receiver that has not answered yet is known to be busy from its queue:
// the senders share a hold before its attempts time out or its circuit
// opens, the router holds its new deliveries, and the hold is lifted as
// soon as it answers and its queue drains. Nothing is lost meanwhile.
func TestASilentReceiversQueueIsAHoldLiftedWhenItAnswers(t *testing.T) {
	t.Parallel()
	e := start(t, options{tune: func(c *pipeline.Config) {
		c.Sender.Workers = 4
		c.Sender.MaxPerEndpoint = 2
		c.Client.Timeout = 20 * time.Second // nothing times out here; queues may wait 20 s
	}})
	answer := make(chan struct{})
	rc := newReceiver(t, func(int, request) int {
		<-answer
		return http.StatusOK
	})
	var once sync.Once
	release := func() { once.Do(func() { close(answer) }) }
	t.Cleanup(release)
	e.storeWebhook(&schemas.Webhook{ID: "wh_cold", Name: "cold", URL: rc.URL, Events: []string{"*"}})

	holdUntil := func() time.Time {
		ent, err := e.b.Health.Get(context.Background(), "default.wh_cold")
		if err != nil {
			return time.Time{}
		}
		var h schemas.WebhookHealth
		require.NoError(t, schemas.Unmarshal(ent.Value(), &h))
		return h.HoldUntil
	}
	// Two attempts wait, the rest queue; each delivery that arrives while
	// the receiver stays silent finds it busy for longer. The queue alone
	// is a hold, shared before any delivery finds it full.
	published := 0
	require.Eventually(t, func() bool {
		e.publish(syncStarted("org_1"))
		published++
		return !holdUntil().IsZero()
	}, 20*time.Second, 200*time.Millisecond, "a hold shared")
	require.Zero(t, e.p.Sender.Stats().SentBack, "shared before the queue was full")
	require.Eventually(t, func() bool {
		e.publish(syncStarted("org_1"))
		published++
		return holdUntil().After(time.Now().Add(10 * time.Second))
	}, 20*time.Second, 200*time.Millisecond, "a long hold shared while nothing has timed out")
	require.Zero(t, e.p.Sender.Stats().OpenCircuits)
	require.Eventually(t, func() bool {
		e.publish(syncStarted("org_1"))
		published++
		return e.p.Router.Stats().Held > 0
	}, 10*time.Second, 50*time.Millisecond, "the router holds its new deliveries")

	release()
	require.Eventually(t, func() bool { return holdUntil().Before(time.Now().Add(2 * time.Second)) },
		10*time.Second, 10*time.Millisecond, "lifted, or shortened to the drain, once it answers")
	require.Eventually(t, func() bool { return rc.count(schemas.TypeSyncStarted) >= published },
		60*time.Second, 50*time.Millisecond, "every delivery arrives, the held ones at the end of their hold")
}
