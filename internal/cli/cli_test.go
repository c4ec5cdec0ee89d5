package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/cli"
)

// devRun is a running `hookstream dev`.
type devRun struct {
	api, nats, token string
	replay           string // the banner's Replay line
	cancel           context.CancelFunc
	exit             chan int
}

// startDev runs `hookstream dev` in-process on dir and waits for its banner.
func startDev(t *testing.T, dir string, extra ...string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	d := &devRun{cancel: cancel, exit: make(chan int, 1)}
	args := append([]string{"dev", "--data", dir, "--nats-listen", "127.0.0.1:-1", "--http", "127.0.0.1:0",
		"--retry-schedule", "10ms", "--log-level", "error"}, extra...)
	go func() {
		d.exit <- cli.Main(ctx, args, cli.IO{Stdin: strings.NewReader(""), Stdout: pw, Stderr: io.Discard})
		_ = pw.Close()
	}()
	banner := map[string]*regexp.Regexp{
		"api": regexp.MustCompile(`API:\s+(http://\S+)`), "nats": regexp.MustCompile(`NATS:\s+(\S+)`),
		"token": regexp.MustCompile(`Token:\s+(\S+)`), "replay": regexp.MustCompile(`Replay:\s+(.+)`),
	}
	found := map[string]string{}
	sc := bufio.NewScanner(pr)
	for len(found) < len(banner) && sc.Scan() {
		for k, re := range banner {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found[k] = m[1]
			}
		}
	}
	require.Len(t, found, len(banner), "banner printed")
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	d.api, d.nats, d.token, d.replay = found["api"], found["nats"], found["token"], found["replay"]
	t.Cleanup(d.stop)
	return d
}

func (d *devRun) stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	select {
	case code := <-d.exit:
		if code != 0 {
			panic("hookstream dev exited with a non-zero code")
		}
	case <-time.After(30 * time.Second):
		panic("hookstream dev did not stop within 30s")
	}
}

func (d *devRun) call(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, d.api+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

// TestDevWalkThrough follows the README: create a webhook, publish with
// `hookstream publish`, see the attempt; then restart on the same data.
func TestDevWalkThrough(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	got := make(chan string, 100)
	var down atomic.Bool
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Type string }
		_ = json.NewDecoder(r.Body).Decode(&ev)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			ev.Type += " (503)"
		}
		got <- ev.Type
	}))
	defer receiver.Close()

	// Retries 2 s apart: a retry waits as a scheduled message in JetStream.
	d := startDev(t, dir, "--retry-schedule", "2s,2s")
	require.Regexp(t, `^daily at 23:59 UTC \(next \S+T23:59:00Z\), dead letters kept 168h$`, d.replay)
	var wh struct{ ID, Secret string }
	code := d.call(t, http.MethodPost, "/v1/webhooks", `{"name":"my app","url":"`+receiver.URL+`/hooks","events":["sync.*"]}`, &wh)
	require.Equal(t, http.StatusCreated, code)
	require.Equal(t, "webhook.ping", waitFor(t, got))

	var out strings.Builder
	rc := cli.Main(context.Background(), []string{"publish", "--nats", d.nats, "--type", "sync.started", "--org", "org_42",
		"--data", `{"sync_session_id":"ss_1","hrms":"darwinbox"}`}, cli.IO{Stdout: &out, Stderr: io.Discard})
	require.Equal(t, 0, rc)
	require.Contains(t, out.String(), `"duplicate":false`)
	require.Equal(t, "sync.started", waitFor(t, got))

	var log struct {
		Data []struct {
			EventType  string `json:"event_type"`
			StatusCode int    `json:"status_code"`
		} `json:"data"`
	}
	require.Eventually(t, func() bool {
		require.Equal(t, http.StatusOK, d.call(t, http.MethodGet, "/v1/webhooks/"+wh.ID+"/attempts", "", &log))
		return len(log.Data) == 2
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "sync.started", log.Data[0].EventType)
	require.Equal(t, 200, log.Data[0].StatusCode)

	// A delivery that failed, its retry pending, when dev stops.
	down.Store(true)
	require.Equal(t, 0, cli.Main(context.Background(), []string{"publish", "--nats", d.nats, "--type", "sync.failed", "--org", "org_42",
		"--data", `{"sync_session_id":"ss_1","hrms":"darwinbox","error":{"code":"auth","message":"expired"}}`}, cli.IO{Stdout: io.Discard, Stderr: io.Discard}))
	require.Equal(t, "sync.failed (503)", waitFor(t, got), "the first attempt")
	token := d.token
	d.stop()

	// Same data, same token, the webhook is still there, and the pending
	// retry is made after the restart.
	down.Store(false)
	d2 := startDev(t, dir, "--retry-schedule", "2s,2s")
	next := waitFor(t, got)
	if next == "sync.failed (503)" { // a second attempt before the stop, on a slow machine
		next = waitFor(t, got)
	}
	require.Equal(t, "sync.failed", next, "a retry made after the restart, answered 200")
	require.Equal(t, token, d2.token)
	var list struct{ Data []struct{ ID string } }
	require.Equal(t, http.StatusOK, d2.call(t, http.MethodGet, "/v1/webhooks", "", &list))
	require.Len(t, list.Data, 1)
	require.Equal(t, wh.ID, list.Data[0].ID)
}

func waitFor(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatal("timed out")
		return ""
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	var stderr strings.Builder
	io := cli.IO{Stdout: io.Discard, Stderr: &stderr}
	require.Equal(t, 2, cli.Main(context.Background(), nil, io))
	require.Equal(t, 2, cli.Main(context.Background(), []string{"frobnicate"}, io))
	require.Equal(t, 2, cli.Main(context.Background(), []string{"publish"}, io))
	require.Equal(t, 2, cli.Main(context.Background(), []string{"dev", "--no-such-flag"}, io))
	require.Equal(t, 0, cli.Main(context.Background(), []string{"dev", "--help"}, io))
	require.Contains(t, stderr.String(), "HOOKSTREAM_RETRY_SCHEDULE", "--help names the environment variables")
	for _, env := range []string{"HOOKSTREAM_REPLAY_AT", "HOOKSTREAM_REPLAY_TZ", "HOOKSTREAM_DEAD_LETTER_RETENTION"} {
		require.Contains(t, stderr.String(), env)
	}
	for cmd, env := range map[string]string{
		"scheduler": "HOOKSTREAM_REPLAY_TZ", "deadletters": "HOOKSTREAM_WEBHOOK", "replay": "HOOKSTREAM_TENANT",
	} {
		stderr.Reset()
		require.Equal(t, 0, cli.Main(context.Background(), []string{cmd, "--help"}, io), cmd)
		require.Contains(t, stderr.String(), env, cmd)
	}

	// Bad values are explained, not just refused.
	stderr.Reset()
	require.Equal(t, 2, cli.Main(context.Background(), []string{"dev", "--replay-tz", "Nowhere/Town"}, io))
	require.Contains(t, stderr.String(), "--replay-tz \"Nowhere/Town\"")
	stderr.Reset()
	require.Equal(t, 2, cli.Main(context.Background(), []string{"dev", "stray"}, io))
	require.Contains(t, stderr.String(), `unexpected argument "stray"`)
	stderr.Reset()
	require.Equal(t, 2, cli.Main(context.Background(), []string{"publish", "--nats", "nats://127.0.0.1:1"}, io))
	require.Contains(t, stderr.String(), "give --type")
}

// TestDevReplaySchedule: the dev banner says when dead letters are
// replayed, in the zone asked for.
func TestDevReplaySchedule(t *testing.T) {
	t.Parallel()
	d := startDev(t, t.TempDir(), "--replay-at", "06:15", "--replay-tz", "Europe/Berlin", "--dead-letter-retention", "48h")
	m := regexp.MustCompile(`^daily at 06:15 Europe/Berlin \(next (\S+)\), dead letters kept 48h$`).FindStringSubmatch(d.replay)
	require.NotNil(t, m, d.replay)
	next, err := time.Parse(time.RFC3339, m[1])
	require.NoError(t, err)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	require.Equal(t, "06:15", next.In(berlin).Format("15:04"))

	// The scheduler runs: on start it made the latest run that was due.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b, err := broker.Open(ctx, broker.Config{URLs: d.nats, Topology: broker.Topology{DeadLetterRetention: 48 * time.Hour}})
	require.NoError(t, err)
	defer b.Close()
	key := "run." + next.In(berlin).AddDate(0, 0, -1).Format("2006-01-02")
	require.Eventually(t, func() bool {
		e, err := b.Scheduler.Get(ctx, key)
		return err == nil && strings.Contains(string(e.Value()), `"done":true`)
	}, 15*time.Second, 10*time.Millisecond, key)
}
