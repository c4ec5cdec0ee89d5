package demo_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/demo"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/internal/testproc"
	"github.com/hookstream/hookstream/sender"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testproc.LeakOptions...) }

const token = "hs_demo_test_token"

// bundle is a whole pipeline on an in-process JetStream, its API on an
// httptest server, and the tenant "default".
type bundle struct {
	api *httptest.Server
	p   *pipeline.Pipeline
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := brokertest.Open(t, brokertest.Server(t, ""), broker.Topology{})
	logger := slog.New(slog.DiscardHandler)
	p, err := pipeline.New(pipeline.Config{
		Broker: b, Logger: logger,
		API: api.Config{Addr: "127.0.0.1:0"},
		// Events every 2 ms (see start) fail at the failing endpoint
		// faster than the real demo's: its circuit must not open before a
		// delivery's three attempts, or its deliveries are held (5 s, then
		// 10 s, 20 s…) instead of dead-lettered within the test.
		Sender: sender.Config{Workers: 8, RetrySchedule: []time.Duration{5 * time.Millisecond, 10 * time.Millisecond},
			Breaker: sender.BreakerConfig{Failures: 1_000_000}},
		Client: sender.ClientConfig{Timeout: 5 * time.Second},
		Egress: egress.Policy{AllowLoopback: true},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("pipeline did not stop within 30s")
		}
	})
	_, err = p.API.EnsureTenant(ctx, "default", "Default", token)
	require.NoError(t, err)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("pipeline not ready")
	}
	return &bundle{api: srv, p: p}
}

// start runs a demo until the test ends.
func (tb *bundle) start(t *testing.T) *demo.Demo {
	t.Helper()
	d, err := demo.New(demo.Config{API: tb.api.URL, Token: token, TenantID: "default", Producer: tb.p.Producer,
		EventInterval: 2 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "Run returns nil when its context ends")
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("demo stopped while setting up: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo not ready")
	}
	return d
}

func (tb *bundle) get(t *testing.T, path string, out any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, tb.api.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	require.NoError(t, json.Unmarshal(raw, out), string(raw))
}

type webhookList struct {
	Data []struct {
		ID, Name, URL string
		Events        []string
		Enabled       bool
	}
}

// The demo sets up its two webhooks, publishes sync sessions through the
// pipeline, its receiver verifies every delivery, and the failing endpoint's
// deliveries end in the dead letters.
func TestDemoDeliversAndFails(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	d := tb.start(t)
	info := d.Info()
	require.NotEmpty(t, info.ReceiverWebhookID)
	require.NotEmpty(t, info.FailingWebhookID)
	require.Len(t, info.Orgs, 3)

	var hooks webhookList
	tb.get(t, "/v1/webhooks", &hooks)
	require.Len(t, hooks.Data, 2)
	byName := map[string]string{}
	for _, w := range hooks.Data {
		byName[w.Name] = w.URL
		require.True(t, w.Enabled)
	}
	require.Equal(t, info.ReceiverURL, byName[demo.ReceiverWebhookName])
	require.Equal(t, info.FailingURL, byName[demo.FailingWebhookName])

	// Whole sessions reach the receiver, every signature verified.
	require.Eventually(t, func() bool {
		c := d.Counts()
		return c.Types["sync.started"] >= 2 && c.Types["employee.created"] >= 2 &&
			c.Types["sync.completed"]+c.Types["sync.failed"] >= 2 && c.Failed >= 3
	}, 30*time.Second, 10*time.Millisecond, "deliveries arrive")
	c := d.Counts()
	require.Zero(t, c.Rejected, "every signature verifies")
	require.Equal(t, 1, c.Types["webhook.ping"], "the new webhook's ping")
	require.GreaterOrEqual(t, c.Finished, 2)

	// The failing endpoint's deliveries are retried, then dead-lettered.
	var dead struct {
		Data []struct {
			WebhookID  string `json:"webhook_id"`
			EventType  string `json:"event_type"`
			Attempts   int    `json:"attempts"`
			LastStatus int    `json:"last_status"`
		} `json:"data"`
	}
	require.Eventually(t, func() bool {
		tb.get(t, "/v1/dead-letters?webhook_id="+info.FailingWebhookID, &dead)
		return len(dead.Data) > 0
	}, 30*time.Second, 20*time.Millisecond, "dead letters of the failing endpoint")
	require.Equal(t, info.FailingWebhookID, dead.Data[0].WebhookID)
	require.Contains(t, []string{"sync.started", "sync.completed", "sync.failed", "webhook.ping"}, dead.Data[0].EventType)
}

// A restart takes over the webhooks of the previous run: no duplicates, a new
// secret the new receiver knows, the new endpoints' URLs.
func TestDemoRestartTakesOverItsWebhooks(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	ctx, cancel := context.WithCancel(context.Background())
	first, err := demo.New(demo.Config{API: tb.api.URL, Token: token, TenantID: "default", Producer: tb.p.Producer,
		EventInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	select {
	case <-first.Ready():
	case err := <-done:
		t.Fatalf("demo stopped while setting up: %v", err)
	}
	cancel()
	require.NoError(t, <-done)

	second := tb.start(t)
	require.Equal(t, first.Info().ReceiverWebhookID, second.Info().ReceiverWebhookID)
	require.Equal(t, first.Info().FailingWebhookID, second.Info().FailingWebhookID)
	require.NotEqual(t, first.Info().ReceiverURL, second.Info().ReceiverURL)

	var hooks webhookList
	tb.get(t, "/v1/webhooks", &hooks)
	require.Len(t, hooks.Data, 2)
	for _, w := range hooks.Data {
		if w.Name == demo.ReceiverWebhookName {
			require.Equal(t, second.Info().ReceiverURL, w.URL)
		}
	}
	require.Eventually(t, func() bool {
		return second.Counts().Types["employee.created"] > 0
	}, 30*time.Second, 10*time.Millisecond)
	require.Zero(t, second.Counts().Rejected, "the new receiver verifies with the new secret")
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	_, err := demo.New(demo.Config{})
	require.ErrorContains(t, err, "API")
	_, err = demo.New(demo.Config{API: "http://127.0.0.1:1", Token: "t", TenantID: "default"})
	require.ErrorContains(t, err, "Producer")
}
