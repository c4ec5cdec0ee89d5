package sender_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/router"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
	"github.com/hookstream/hookstream/signature"
	"github.com/hookstream/hookstream/subscription"
)

// Example runs the flow on an embedded JetStream: a webhook subscribed to
// sync events, a producer publishing one, the router fanning it out and the
// sender delivering it signed; then a graceful shutdown.
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

	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	got := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verifier, _ := signature.New(signature.Config{})
		verr := verifier.Verify(r.Header, body, time.Now(), secret)
		var ev schemas.Event
		_ = json.Unmarshal(body, &ev)
		got <- fmt.Sprintf("%s for %s, signature ok: %v", ev.Type, ev.OrgID, verr == nil)
	}))
	defer receiver.Close()

	store := subscription.NewKVStore(b.Webhooks)
	_ = store.Create(ctx, &schemas.Webhook{
		ID: "wh_1", TenantID: "acme", Name: "sync alerts", URL: receiver.URL,
		Events: []string{"sync.*"}, Enabled: true, IncludePayload: true,
		Secrets: []schemas.Secret{{Value: secret}},
	})
	index := subscription.NewIndex(b.Webhooks, nil)
	r, _ := router.New(router.Config{JS: b.JS, Matcher: index})
	s, _ := sender.New(sender.Config{JS: b.JS, Webhooks: index,
		Client: sender.NewClient(sender.ClientConfig{Egress: egress.Policy{AllowLoopback: true}})})
	done := make(chan struct{}, 3)
	go func() { _ = index.Run(ctx); done <- struct{}{} }()
	<-index.Ready()
	go func() { _ = r.Run(ctx); done <- struct{}{} }()
	go func() { _ = s.Run(ctx); done <- struct{}{} }()

	p, _ := producer.New(producer.Config{JS: b.JS})
	_, _ = p.Publish(ctx, &schemas.Event{
		TenantID: "acme", Type: schemas.TypeSyncCompleted, OrgID: "org_42",
		Data: json.RawMessage(`{"sync_session_id":"ss_1","hrms":"darwinbox","record_count":12}`),
	})
	fmt.Println(<-got)

	cancel() // graceful shutdown: each Run returns once drained
	for range 3 {
		<-done
	}
	fmt.Println("stopped")
	// Output:
	// sync.completed for org_42, signature ok: true
	// stopped
}
