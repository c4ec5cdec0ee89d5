package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/subscription"
)

// Example runs the API on an embedded JetStream, creates a webhook with the
// tenant's token, and stops gracefully when the context is canceled.
func Example() {
	dir, _ := os.MkdirTemp("", "hookstream-api-example")
	defer os.RemoveAll(dir)
	ns, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: dir, Listen: "-"})
	if err != nil {
		panic(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := broker.Open(ctx, broker.Config{Server: ns})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	p, _ := producer.New(producer.Config{JS: b.JS})

	srv, err := api.New(api.Config{
		Broker:   b,
		Store:    subscription.NewKVStore(b.Webhooks),
		Producer: p,
		Addr:     "127.0.0.1:0",
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	if _, err := srv.EnsureTenant(ctx, "default", "Default tenant", "hs_example_token"); err != nil {
		panic(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Run(ctx) }()
	<-srv.Listening()

	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.Addr()+"/v1/webhooks", strings.NewReader(
		`{"name": "hr", "url": "https://receiver.example.com/hooks", "events": ["sync.*"]}`))
	req.Header.Set("Authorization", "Bearer hs_example_token")
	client := &http.Client{}
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	client.CloseIdleConnections()
	fmt.Println(resp.Status)

	cancel()
	fmt.Println("stopped:", <-stopped)
	// Output:
	// 201 Created
	// stopped: <nil>
}
