package scheduler_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/scheduler/schedulertest"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/subscription"
)

// Example runs the end-of-day replay on an embedded JetStream with a fake
// clock: two deliveries dead-lettered during the day go back to DELIVERIES
// at 23:59 in Berlin; then a graceful shutdown.
func Example() {
	dir, _ := os.MkdirTemp("", "hookstream-example")
	defer os.RemoveAll(dir)
	srv, _ := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: dir, Listen: "-"})
	defer srv.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := broker.Open(ctx, broker.Config{Server: srv})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	store := subscription.NewKVStore(b.Webhooks)
	_ = store.Create(ctx, &schemas.Webhook{ID: "wh_1", TenantID: "acme", URL: "https://example.com/hooks",
		Events: []string{"*"}, Enabled: true})
	index := subscription.NewIndex(b.Webhooks, nil)
	go func() { _ = index.Run(ctx) }()
	<-index.Ready()

	berlin, _ := time.LoadLocation("Europe/Berlin")
	clock := schedulertest.NewClock(time.Date(2026, 11, 24, 8, 0, 0, 0, berlin))
	replayer, _ := scheduler.NewReplayer(scheduler.ReplayerConfig{JS: b.JS, Webhooks: index, Clock: clock})
	reports := make(chan scheduler.Report, 10)
	s, _ := scheduler.New(scheduler.Config{
		JS: b.JS, Runs: b.Scheduler, Replayer: replayer, At: "23:59", Location: berlin, Clock: clock,
		OnRun: func(r scheduler.Report) { reports <- r },
	})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-reports // the catch-up of yesterday's run, with nothing to do
	fmt.Println("next run:", s.Next().Format(time.RFC3339))

	for _, event := range []string{"evt_1", "evt_2"} {
		dl := schemas.DeadLetter{Reason: "gave up after 5 attempts: HTTP 503", At: clock.Now(), Delivery: schemas.Delivery{
			ID: schemas.DeliveryID(event, "wh_1"), EventID: event, EventType: "sync.completed", TenantID: "acme", WebhookID: "wh_1",
		}}
		msg, _ := broker.DeadLetterMsg(&dl, dl.Delivery.ID+":dl")
		_, _ = b.JS.PublishMsg(ctx, msg)
	}
	clock.Set(s.Next())
	r := <-reports
	fmt.Printf("run %s: %s\n", r.ID, r.Result)

	cancel() // graceful shutdown: Run returns nil
	fmt.Println("stopped:", <-done)
	// Output:
	// next run: 2026-11-24T23:59:00+01:00
	// run 2026-11-24: 2 replayed, 0 kept
	// stopped: <nil>
}
