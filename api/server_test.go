package api_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/subscription"
)

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	r := tb.do(t, http.MethodGet, "/healthz", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"status":"ok"}`, string(r.body))
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	r = tb.do(t, http.MethodGet, "/readyz", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"status":"ok"}`, string(r.body))

	// Without NATS the process is alive but not ready.
	tb.b.Close()
	r = tb.do(t, http.MethodGet, "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Equal(t, "unavailable", r.errorOf(t).Code)
	require.Equal(t, http.StatusOK, tb.do(t, http.MethodGet, "/healthz", "", nil).status)
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	for _, path := range []string{"/v1/nope", "/v1/webhooks/wh_1/nope", "/", "/v2/webhooks"} {
		r := tb.do(t, http.MethodGet, path, tokenA, nil)
		require.Equal(t, http.StatusNotFound, r.status, path)
		require.Equal(t, "not_found", r.errorOf(t).Code, path)
	}

	r := tb.do(t, http.MethodPut, "/v1/webhooks", tokenA, nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Equal(t, "method_not_allowed", r.errorOf(t).Code)
	require.Contains(t, r.header.Get("Allow"), http.MethodPost)
	r = tb.do(t, http.MethodPost, "/healthz", "", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Equal(t, "method_not_allowed", r.errorOf(t).Code)
}

func TestRunServesUntilCanceled(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	p, err := producer.New(producer.Config{JS: b.JS})
	require.NoError(t, err)
	srv, err := api.New(api.Config{Broker: b, Store: subscription.NewKVStore(b.Webhooks), Producer: p, Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.Empty(t, srv.Addr())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Listening():
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run is not listening after 10s")
	}

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + srv.Addr() + "/healthz")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"status":"ok"}`, string(body))
	client.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	require.Empty(t, srv.Addr())
}

func TestRunFailsWhenItCannotListen(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	p, err := producer.New(producer.Config{JS: b.JS})
	require.NoError(t, err)
	srv, err := api.New(api.Config{Broker: b, Store: subscription.NewKVStore(b.Webhooks), Producer: p, Addr: "256.0.0.1:bad"})
	require.NoError(t, err)
	require.Error(t, srv.Run(context.Background()))
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	p, err := producer.New(producer.Config{JS: b.JS})
	require.NoError(t, err)
	store := subscription.NewKVStore(b.Webhooks)

	for name, cfg := range map[string]api.Config{
		"no broker":         {Store: store, Producer: p},
		"no store":          {Broker: b, Producer: p},
		"no producer":       {Broker: b, Store: store},
		"negative max body": {Broker: b, Store: store, Producer: p, MaxBodyBytes: -1},
	} {
		_, err := api.New(cfg)
		require.Error(t, err, name)
	}
	_, err = api.New(api.Config{Broker: b, Store: store, Producer: p})
	require.NoError(t, err)
}

// The API serves at most MaxConnections connections at once: another waits
// to be accepted until one closes, so its goroutines are bounded by
// configuration, not by clients.
func TestConnectionsAreBounded(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(c *api.Config) { c.Addr, c.MaxConnections = "127.0.0.1:0", 1 })
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- tb.srv.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-ran) }()
	<-tb.srv.Listening()
	addr := tb.srv.Addr()

	// One connection holds the only slot with a request it never finishes.
	held, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, err = held.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n"))
	require.NoError(t, err)

	impatient := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	_, err = impatient.Get("http://" + addr + "/healthz")
	require.Error(t, err, "not served while the slot is taken")

	require.NoError(t, held.Close())
	require.Eventually(t, func() bool {
		resp, err := impatient.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 5*time.Second, 50*time.Millisecond, "served once the slot is free")
}
