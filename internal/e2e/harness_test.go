package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/metrics"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/router"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/scheduler/schedulertest"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
)

const (
	testToken  = "hs_test_token_for_e2e_tests_only"
	adminToken = "admin"
)

// env is one running pipeline.
type env struct {
	t      *testing.T
	srv    *server.Server
	b      *broker.Broker
	p      *pipeline.Pipeline
	api    *httptest.Server
	cancel context.CancelFunc
	done   chan error
}

type options struct {
	dir      string
	roles    pipeline.Roles
	schedule []time.Duration
	// clock, when set, is the time of the API and the senders.
	clock *clock
	// egress, when set, replaces the policy that allows loopback receivers.
	egress *egress.Policy
	// disableAfter, when set, disables webhooks failing that long.
	disableAfter time.Duration
	// tune, when set, adjusts the pipeline's configuration last.
	tune func(*pipeline.Config)
	// topology configures the streams and consumers. Optional.
	topology broker.Topology
	// replayClock drives the end-of-day scheduler (23:59 UTC). Optional;
	// default a clock stopped at replayEpoch, so that no run falls due
	// while a test runs.
	replayClock *schedulertest.Clock
}

// replayEpoch is the time of the scheduler's default clock: its catch-up
// run at start is the one of the day before, once per store.
var replayEpoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// clock is real time plus an offset a test can move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// start runs a pipeline on a fresh (or, with opts.dir, an existing) store.
func start(t *testing.T, opts options) *env {
	t.Helper()
	if opts.schedule == nil {
		opts.schedule = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}
	}
	e := &env{t: t, done: make(chan error, 1)}
	e.srv = brokertest.Server(t, opts.dir)
	e.b = brokertest.Open(t, e.srv, opts.topology)
	cfg := pipeline.Config{
		Broker: e.b,
		Roles:  opts.roles,
		API:    api.Config{Addr: "127.0.0.1:0", AdminToken: adminToken},
		Sender: sender.Config{Workers: 8, RetrySchedule: opts.schedule, DisableAfter: opts.disableAfter,
			StatsInterval: 50 * time.Millisecond},
		Router: router.Config{StatsInterval: 50 * time.Millisecond},
		Client: sender.ClientConfig{Timeout: 2 * time.Second},
		Egress: egress.Policy{AllowLoopback: true},
	}
	if opts.replayClock == nil {
		opts.replayClock = schedulertest.NewClock(replayEpoch)
	}
	// The scheduler first takes up the latest run that was due, replaying
	// every dead letter there is then; start returns once it has, so that
	// it does not replay what a test dead-letters.
	caughtUp := make(chan struct{})
	var once sync.Once
	cfg.Scheduler = scheduler.Config{At: "23:59", Location: time.UTC, Clock: opts.replayClock,
		OnRun: func(scheduler.Report) { once.Do(func() { close(caughtUp) }) }}
	if opts.clock != nil {
		cfg.API.Now, cfg.Sender.Now = opts.clock.now, opts.clock.now
	}
	if opts.egress != nil {
		cfg.Egress = *opts.egress
	}
	if opts.tune != nil {
		opts.tune(&cfg)
	}
	var metricsHandler http.Handler
	cfg.API.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { metricsHandler.ServeHTTP(w, r) })
	p, err := pipeline.New(cfg)
	require.NoError(t, err)
	e.p = p
	metricsHandler = metrics.Handler(metrics.NewRegistry(metrics.Sources{Role: "e2e", Version: "test",
		Producer: p.Producer, Router: p.Router, Sender: p.Sender, Replayer: p.Replayer, JS: e.b.JS}))
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- p.Run(ctx) }()
	if p.API != nil {
		_, err = p.API.EnsureTenant(ctx, "default", "Default", testToken)
		require.NoError(t, err)
		e.api = httptest.NewServer(p.Handler())
		t.Cleanup(e.api.Close)
	}
	t.Cleanup(e.stop)
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("index not ready")
	}
	if p.Scheduler != nil {
		select {
		case <-caughtUp:
		case <-time.After(10 * time.Second):
			t.Fatal("the scheduler did not take up the latest run")
		}
	}
	return e
}

// stop cancels the pipeline and waits (at most 30 s) for it to drain.
func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		require.NoError(e.t, err)
	case <-time.After(30 * time.Second):
		e.t.Fatal("pipeline did not stop within 30s")
	}
}

// loggedAttempt is an entry of GET /v1/webhooks/{id}/attempts.
type loggedAttempt struct {
	ID string `json:"id"`
	schemas.Attempt
}

// deliveryLog polls a webhook's delivery log, newest first, until complete
// says it is: senders log attempts a moment after making them (within 0.1 s).
func (e *env) deliveryLog(webhookID string, complete func([]loggedAttempt) bool) []loggedAttempt {
	e.t.Helper()
	var log struct {
		Data []loggedAttempt `json:"data"`
	}
	require.Eventually(e.t, func() bool {
		log.Data = nil
		return e.call(http.MethodGet, "/v1/webhooks/"+webhookID+"/attempts", nil, &log) == http.StatusOK && complete(log.Data)
	}, 10*time.Second, 20*time.Millisecond, "the delivery log of %s", webhookID)
	return log.Data
}

// call makes an API request with the default tenant's token and decodes the
// JSON answer into out (when not nil). It returns the status code.
func (e *env) call(method, path string, body any, out any) int {
	e.t.Helper()
	return callAPI(e.t, e.api.URL, testToken, method, path, body, out)
}

func callAPI(t *testing.T, base, token, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, out), string(raw))
	}
	return resp.StatusCode
}

type createdWebhook struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

func (e *env) createWebhook(url string, events []string, extra map[string]any) createdWebhook {
	e.t.Helper()
	body := map[string]any{"name": "test", "url": url, "events": events}
	for k, v := range extra {
		body[k] = v
	}
	var w createdWebhook
	code := e.call(http.MethodPost, "/v1/webhooks", body, &w)
	require.Equal(e.t, http.StatusCreated, code)
	require.NotEmpty(e.t, w.ID)
	require.NotEmpty(e.t, w.Secret)
	if _, other := extra["signature"]; !other {
		expectSignedBy(e.t, url, w.Secret)
	}
	return w
}

// request is what a receiver got.
type request struct {
	At     time.Time
	Header http.Header
	Body   []byte
	Event  struct {
		ID    string          `json:"id"`
		Type  string          `json:"type"`
		OrgID string          `json:"org_id"`
		Data  json.RawMessage `json:"data"`
	}
}

// receiver is an httptest server that records every request. respond, when
// set, picks the status for the n-th request (1-based); the default is 200.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []request
	arrived chan request
	respond func(n int, r request) int
	// headers are added to every answer.
	headers http.Header
}

// signingSecrets are the Standard Webhooks secrets of the webhooks the
// tests made, by the host:port of their URL: every receiver checks every
// Standard Webhooks delivery it gets with the reference library and one of
// them, so our signing is checked by code we did not write.
var signingSecrets sync.Map // host:port → *secretList

type secretList struct {
	mu      sync.Mutex
	secrets []string
}

// expectSignedBy records that deliveries to rawURL are signed (Standard
// Webhooks) with secret.
func expectSignedBy(t *testing.T, rawURL, secret string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	v, _ := signingSecrets.LoadOrStore(u.Host, &secretList{})
	l := v.(*secretList)
	l.mu.Lock()
	l.secrets = append(l.secrets, secret)
	l.mu.Unlock()
}

// verifies reports whether a Standard Webhooks request to host verifies
// with one of the secrets of its webhooks; true when none is known or the
// request is signed with another scheme.
func verifies(host string, h http.Header, body []byte) bool {
	v, ok := signingSecrets.Load(host)
	if !ok || h.Get("webhook-signature") == "" {
		return true
	}
	l := v.(*secretList)
	l.mu.Lock()
	secrets := slices.Clone(l.secrets)
	l.mu.Unlock()
	for _, sec := range secrets {
		ref, err := standardwebhooks.NewWebhook(sec)
		// The senders' clock may be moved forward by a test: the signature
		// is what is checked here, the timestamp tolerance elsewhere.
		if err == nil && ref.VerifyIgnoringTimestamp(body, h) == nil {
			return true
		}
	}
	return false
}

func newReceiver(t *testing.T, respond func(n int, r request) int) *receiver {
	rc := &receiver{arrived: make(chan request, 10_000), respond: respond}
	var unverified atomic.Int32
	t.Cleanup(func() {
		require.Zero(t, unverified.Load(), "deliveries whose Standard Webhooks signature the reference library refused")
	})
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !verifies(r.Host, r.Header, body) {
			unverified.Add(1)
		}
		req := request{At: time.Now(), Header: r.Header.Clone(), Body: body}
		_ = json.Unmarshal(body, &req.Event)
		rc.mu.Lock()
		rc.got = append(rc.got, req)
		n := len(rc.got)
		rc.mu.Unlock()
		status := http.StatusOK
		if rc.respond != nil {
			status = rc.respond(n, req)
		}
		for k, v := range rc.headers {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"ok":true}`))
		rc.arrived <- req
	}))
	t.Cleanup(rc.Close)
	return rc
}

// next waits for the next request whose event type is not webhook.ping.
func (rc *receiver) next(t *testing.T) request {
	t.Helper()
	for {
		select {
		case r := <-rc.arrived:
			if r.Event.Type == "webhook.ping" {
				continue
			}
			return r
		case <-time.After(15 * time.Second):
			t.Fatal("timed out waiting for a delivery")
		}
	}
}

// first returns the first request of an event type that arrived.
func (rc *receiver) first(t *testing.T, eventType string) request {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, r := range rc.got {
		if r.Event.Type == eventType {
			return r
		}
	}
	t.Fatalf("no %s arrived", eventType)
	return request{}
}

// all returns every request that arrived.
func (rc *receiver) all() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

// count returns how many requests of an event type arrived.
func (rc *receiver) count(eventType string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, r := range rc.got {
		if r.Event.Type == eventType {
			n++
		}
	}
	return n
}
