package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/cli"
)

// role runs `hookstream <args>` in-process until the test ends and returns
// the first line it prints.
func role(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Main(ctx, args, cli.IO{Stdout: pw, Stderr: io.Discard})
		_ = pw.Close()
	}()
	br := bufio.NewReader(pr)
	line, err := br.ReadString('\n')
	go func() { _, _ = io.Copy(io.Discard, br) }() // the command never waits for the test
	require.NoError(t, err, "%v printed nothing", args)
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exit:
			require.Equal(t, 0, code, "%s exits 0 when stopped", args[0])
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop", args[0])
		}
	})
	return line
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// The roles as separate commands against one NATS server: an event
// published through the api role reaches a receiver through the router and
// sender roles; each role serves /healthz, /readyz and /metrics.
func TestRolesAsSeparateCommands(t *testing.T) {
	t.Parallel()
	srv := brokertest.Server(t, "")
	nats := srv.ClientURL()
	got := make(chan string, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Type string }
		_ = json.NewDecoder(r.Body).Decode(&ev)
		got <- ev.Type
	}))
	defer rc.Close()

	apiAddr, senderOps := freeAddr(t), freeAddr(t)
	common := []string{"--nats", nats, "--log-level", "error"}
	require.Contains(t, role(t, append([]string{"api", "--http", apiAddr, "--admin-token", "adm", "--egress-allow-loopback"}, common...)...), "api on http://")
	require.Contains(t, role(t, append([]string{"router"}, common...)...), "router, NATS")
	require.Contains(t, role(t, append([]string{"sender", "--egress-allow-loopback", "--ops-addr", senderOps, "--retry-schedule", "10ms"}, common...)...), "sender, NATS")

	call := func(method, path, token, body string, out any) int {
		req, err := http.NewRequest(method, "http://"+apiAddr+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		if out != nil {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
		}
		return resp.StatusCode
	}
	var tenant struct{ Token string }
	require.Equal(t, http.StatusCreated, call(http.MethodPost, "/v1/tenants", "adm", `{"name":"acme","id":"acme"}`, &tenant))
	require.Equal(t, http.StatusCreated, call(http.MethodPost, "/v1/webhooks", tenant.Token,
		`{"name":"app","url":"`+rc.URL+`","events":["sync.*"]}`, nil))
	require.Equal(t, "webhook.ping", waitFor(t, got))
	require.Equal(t, http.StatusAccepted, call(http.MethodPost, "/v1/events", tenant.Token,
		`{"type":"sync.started","org_id":"o","data":{"sync_session_id":"s","hrms":"keka"}}`, nil))
	require.Equal(t, "sync.started", waitFor(t, got))

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + senderOps + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	metrics := func() string {
		resp, err := http.Get("http://" + senderOps + "/metrics")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(body)
	}
	// The receiver has the request before the sender has its answer and
	// counts the attempt: wait for the count.
	require.Eventually(t, func() bool { return strings.Contains(metrics(), `hookstream_attempts_total{class="2xx"} 2`) },
		10*time.Second, 20*time.Millisecond, "two attempts counted")
	body := metrics()
	require.Contains(t, body, `hookstream_build_info{role="sender",version="dev"} 1`)
	require.Contains(t, body, `hookstream_consumer_pending{consumer="sender",stream="DELIVERIES"}`)
}

func TestRoleUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"sender", "--replicas", "0"},
		{"sender", "--retry-schedule", "soon"},
		{"sender", "--egress-allow", "not-a-cidr"},
		{"router", "--dead-letter-retention", "1m"},
		{"api", "--replay-tz", "Nowhere/Land"},
		{"router", "--workers", "3"}, // a sender flag: the router has none
		{"router", "--sender-ack-wait", "0s"},
		{"router", "--sender-max-ack-pending", "0"},
		{"sender", "--timeout", "30s", "--sender-ack-wait", "30s"}, // an attempt would outlive its ack wait
		{"dev", "--timeout", "2m"},
		{"dev", "--memory-limit", "lots"},
		{"sender", "--memory-limit", "1MiB"}, // below what a process needs
		{"bench", "--memory-limit", "lots"},
	} {
		var stderr strings.Builder
		require.Equal(t, 2, cli.Main(context.Background(), args, cli.IO{Stdout: io.Discard, Stderr: &stderr}), "%v", args)
		require.NotEmpty(t, stderr.String(), "%v explains", args)
	}
}

// --sender-ack-wait and --sender-max-ack-pending configure the senders'
// durable consumer: how long what a crashed sender held waits before
// another sender gets it.
func TestRoleConfiguresTheSenderConsumer(t *testing.T) {
	t.Parallel()
	srv := brokertest.Server(t, "")
	require.Contains(t, role(t, "sender", "--nats", srv.ClientURL(), "--log-level", "error",
		"--timeout", "2s", "--sender-ack-wait", "7s", "--sender-max-ack-pending", "500",
		"--attempts-retention", "48h", "--attempts-per-webhook", "250", "--events-retention", "72h"), "sender, NATS")
	// CreateOnly with the default topology: reads what the sender declared
	// without declaring it again.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Open(ctx, broker.Config{URLs: srv.ClientURL(), CreateOnly: true})
	require.NoError(t, err)
	defer b.Close()
	c, err := b.JS.Consumer(context.Background(), broker.StreamDeliveries, broker.ConsumerSender)
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	require.Equal(t, 7*time.Second, info.Config.AckWait)
	require.Equal(t, 500, info.Config.MaxAckPending)
	attempts, err := b.JS.Stream(context.Background(), broker.StreamAttempts)
	require.NoError(t, err)
	require.Equal(t, 48*time.Hour, attempts.CachedInfo().Config.MaxAge)
	require.Equal(t, int64(250), attempts.CachedInfo().Config.MaxMsgsPerSubject)
	events, err := b.JS.Stream(context.Background(), broker.StreamEvents)
	require.NoError(t, err)
	require.Equal(t, 72*time.Hour, events.CachedInfo().Config.MaxAge)
}
