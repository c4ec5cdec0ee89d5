package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/internal/testproc"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/schemas"
)

// skipShort skips a fault test under -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault test: runs for tens of seconds; skipped under -short")
	}
}

// quietLogger logs errors only, to stderr.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// waitFor waits for ch to close, at most d. On a timeout it fails with
// what, and the states (called then, not now).
func waitFor(t *testing.T, ch <-chan struct{}, d time.Duration, what string, states ...func() string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		var b strings.Builder
		for _, state := range states {
			b.WriteString("\n")
			b.WriteString(state())
		}
		t.Fatalf("waited %s: %s%s", d, what, b.String())
	}
}

// stacks returns the stacks of the goroutines running Hookstream code,
// for a test that timed out or a pipeline that did not stop.
func stacks() string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out strings.Builder
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "hookstream/hookstream/") && !strings.Contains(g, "internal/faults.stacks") {
			out.WriteString(g)
			out.WriteString("\n\n")
		}
	}
	return out.String()
}

// brokerState describes the consumers' progress and the components'
// counters, for a test that timed out.
func brokerState(b *broker.Broker, p *pipeline.Pipeline) func() string {
	return func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var out strings.Builder
		for stream, consumer := range map[string]string{broker.StreamEvents: broker.ConsumerRouter, broker.StreamDeliveries: broker.ConsumerSender} {
			c, err := b.JS.Consumer(ctx, stream, consumer)
			if err != nil {
				fmt.Fprintf(&out, "consumer %s: %v\n", consumer, err)
				continue
			}
			ci, err := c.Info(ctx)
			if err != nil {
				fmt.Fprintf(&out, "consumer %s: %v\n", consumer, err)
				continue
			}
			leader := "-"
			if ci.Cluster != nil {
				leader = ci.Cluster.Leader
			}
			fmt.Fprintf(&out, "consumer %s: pending %d, ack pending %d, redelivered %d, waiting %d, leader %s\n",
				consumer, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, leader)
		}
		if p != nil {
			if p.Router != nil {
				fmt.Fprintf(&out, "router %+v\n", p.Router.Stats())
			}
			if p.Sender != nil {
				fmt.Fprintf(&out, "sender %+v\n", p.Sender.Stats())
			}
			fmt.Fprintf(&out, "producer %+v\n", p.Producer.Stats())
		}
		return out.String()
	}
}

// acknowledged is closed once consumer on stream has nothing pending and
// nothing unacknowledged: every message it was given has been acknowledged.
func acknowledged(t *testing.T, b *broker.Broker, stream, consumer string) <-chan struct{} {
	return brokertest.ConsumerReaches(t, b.JS, stream, consumer, func(ci *jetstream.ConsumerInfo) bool {
		return ci.NumPending == 0 && ci.NumAckPending == 0
	})
}

// receiver is an httptest server that records every delivery by webhook
// (the request path: one path per webhook) and event id, with the
// webhook-id it carried. It answers 200, after delay when set.
type receiver struct {
	*httptest.Server
	delay time.Duration

	mu         sync.Mutex
	first      map[string]string // path + " " + event id -> webhook-id of its first delivery
	deliveries int
	undecoded  int      // requests without an event id
	mismatches []string // keys whose repeat carried another webhook-id
	waiters    []waiter
	gate       chan struct{} // when set, requests wait for it to close
	held       int           // requests waiting at the gate
	holders    []waiter      // on held
}

type waiter struct {
	n  int
	ch chan struct{}
}

func newReceiver(t *testing.T, delay time.Duration) *receiver {
	t.Helper()
	rc := &receiver{delay: delay, first: map[string]string{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &ev)
	rc.record(r.URL.Path, ev.ID, r.Header.Get("webhook-id"))
	if gate := rc.enterGate(); gate != nil {
		defer rc.leaveGate()
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if rc.delay > 0 {
		timer := time.NewTimer(rc.delay) // a slow receiver, not a test waiting
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) record(path, eventID, webhookID string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.deliveries++
	if eventID == "" {
		rc.undecoded++
		return
	}
	key := path + " " + eventID
	if first, seen := rc.first[key]; seen {
		if first != webhookID {
			rc.mismatches = append(rc.mismatches, fmt.Sprintf("%s: first %q, then %q", key, first, webhookID))
		}
		return
	}
	rc.first[key] = webhookID
	rc.waiters = notify(rc.waiters, len(rc.first))
}

// pause makes requests wait (received and recorded, but not answered)
// until resume.
func (rc *receiver) pause() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.gate = make(chan struct{})
}

// resume answers the requests waiting since pause, and those after.
func (rc *receiver) resume() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.gate != nil {
		close(rc.gate)
		rc.gate = nil
	}
}

func (rc *receiver) enterGate() chan struct{} {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.gate == nil {
		return nil
	}
	rc.held++
	rc.holders = notify(rc.holders, rc.held)
	return rc.gate
}

func (rc *receiver) leaveGate() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.held--
}

// holding is closed once n requests wait unanswered at the same time.
func (rc *receiver) holding(n int) <-chan struct{} {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return wait(&rc.holders, rc.held, n)
}

// notify closes the waiters whose count n has reached and returns the others.
func notify(ws []waiter, n int) []waiter {
	return slices.DeleteFunc(ws, func(w waiter) bool {
		if n >= w.n {
			close(w.ch)
			return true
		}
		return false
	})
}

// wait returns a channel closed once the count, now have, reaches n.
func wait(ws *[]waiter, have, n int) <-chan struct{} {
	ch := make(chan struct{})
	if have >= n {
		close(ch)
	} else {
		*ws = append(*ws, waiter{n: n, ch: ch})
	}
	return ch
}

// reached is closed once n distinct (webhook, event) pairs have arrived.
func (rc *receiver) reached(n int) <-chan struct{} {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return wait(&rc.waiters, len(rc.first), n)
}

// report is what a receiver got.
type report struct {
	Deliveries, Distinct, Duplicates, Undecoded int
	Mismatches                                  []string
}

func (rc *receiver) report() report {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return report{Deliveries: rc.deliveries, Distinct: len(rc.first), Duplicates: rc.deliveries - rc.undecoded - len(rc.first),
		Undecoded: rc.undecoded, Mismatches: slices.Clone(rc.mismatches)}
}

// String describes what the receiver got.
func (rc *receiver) String() string { return fmt.Sprintf("receiver: %+v", rc.report()) }

// webhookID returns the webhook-id the first delivery of an event to the
// webhook at path carried, and whether there was one.
func (rc *receiver) webhookID(path, eventID string) (string, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	id, ok := rc.first[path+" "+eventID]
	return id, ok
}

// requireAll checks that the webhook wh, at path, received every event of
// evs under the webhook-id <event id>:<webhook id>, and that every repeat
// carried the webhook-id of the first delivery.
func (rc *receiver) requireAll(t *testing.T, path, wh string, evs []schemas.Event) {
	t.Helper()
	var missing, wrong []string
	for i := range evs {
		id, ok := rc.webhookID(path, evs[i].ID)
		switch {
		case !ok:
			missing = append(missing, evs[i].ID)
		case id != schemas.DeliveryID(evs[i].ID, wh):
			wrong = append(wrong, id)
		}
	}
	require.Empty(t, missing, "%d events never reached %s", len(missing), path)
	require.Empty(t, wrong, "deliveries to %s with an unexpected webhook-id", path)
	rep := rc.report()
	require.Empty(t, rep.Mismatches, "a repeated delivery carried another webhook-id")
	require.Zero(t, rep.Undecoded, "requests without an event id")
}

// newEvents returns n valid events with their ids set.
func newEvents(n int) []schemas.Event {
	evs := make([]schemas.Event, n)
	for i := range evs {
		evs[i] = schemas.Event{ID: schemas.NewEventID(), TenantID: "default", Type: "sync.started", OrgID: "org_1",
			Data: json.RawMessage(`{"sync_session_id":"ss_1","hrms":"darwinbox"}`)}
	}
	return evs
}

// publish publishes evs in chunks with producer.PublishBatch. A chunk that
// fails is published again until it is stored (the events keep their ids,
// so what was already stored comes back as a duplicate, not a second
// delivery), for at most three minutes. before, when set, is called before
// each chunk with how many events are stored so far, and may wait until ctx
// is done. publish does not touch t, so it may run in a goroutine of its
// own.
func publish(ctx context.Context, p *producer.Producer, evs []schemas.Event, chunk int, before func(ctx context.Context, stored int)) published {
	var res published
	deadline := time.Now().Add(3 * time.Minute)
	for i := 0; i < len(evs); i += chunk {
		if before != nil {
			before(ctx, i)
		}
		part := evs[i:min(i+chunk, len(evs))]
		for {
			if ctx.Err() != nil {
				res.err = fmt.Errorf("stopped after %d events: %w", i, ctx.Err())
				return res
			}
			pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			_, err := p.PublishBatch(pctx, part)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				res.err = fmt.Errorf("still failing to publish after 3 minutes, at event %d: %w", i, err)
				return res
			}
			res.retried = append(res.retried, err)
		}
	}
	return res
}

// published is the outcome of publish.
type published struct {
	retried []error // publishes that failed and were made again
	err     error   // why publishing stopped short
}

// publishAsync runs publish in a goroutine until it ends or the test does;
// the outcome arrives on the channel.
func publishAsync(t *testing.T, p *producer.Producer, evs []schemas.Event, chunk int, before func(ctx context.Context, stored int)) <-chan published {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan published, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- publish(ctx, p, evs, chunk, before)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return done
}

// waitPublished waits for publishAsync's outcome and requires that every
// event was stored.
func waitPublished(t *testing.T, done <-chan published, states ...func() string) published {
	t.Helper()
	select {
	case res := <-done:
		require.NoError(t, res.err)
		return res
	case <-time.After(4 * time.Minute):
		var b strings.Builder
		for _, state := range states {
			b.WriteString("\n")
			b.WriteString(state())
		}
		t.Fatalf("publishing did not end in 4 minutes%s", b.String())
	}
	return published{}
}

// runPipeline runs a pipeline in this process until the test ends, then
// stops it and waits (at most 30 s) for it to drain.
func runPipeline(t *testing.T, cfg pipeline.Config) *pipeline.Pipeline {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	p, err := pipeline.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "pipeline stops cleanly")
		case <-time.After(30 * time.Second):
			t.Errorf("pipeline did not stop within 30s; goroutines:\n%s", stacks())
		}
	})
	waitFor(t, p.Ready(), 30*time.Second, "subscription index and catalog not loaded")
	return p
}

// blackhole accepts TCP connections and never reads or answers; it closes
// them when the test ends. It returns its URL and the connections accepted.
func blackhole(t *testing.T) (string, func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + ln.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
}

// process is a hookstream command running as a child process.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    *testproc.Buffer
	ready  chan struct{} // closed when it prints its first line
	exited chan struct{} // closed when it has exited; then state and exitedAt are set
	state  *os.ProcessState
	// exitedAt is when its exit was reaped.
	exitedAt time.Time
}

// startSender runs `hookstream sender --nats natsURL args...` until the
// test ends and waits until it has connected and printed its banner.
func startSender(t *testing.T, name, natsURL string, args ...string) *process {
	t.Helper()
	return startRole(t, "sender", name, natsURL, append([]string{"--egress-allow-loopback"}, args...)...)
}

// startRole runs `hookstream <role> --nats natsURL args...` until the test
// ends and waits until it has connected and printed its banner.
func startRole(t *testing.T, role, name, natsURL string, args ...string) *process {
	t.Helper()
	require.NotEmpty(t, binary, "the hookstream binary was not built")
	pr := &process{name: name, out: &testproc.Buffer{}, ready: make(chan struct{}), exited: make(chan struct{})}
	pr.cmd = exec.Command(binary, append([]string{role, "--nats", natsURL, "--log-level", "error"}, args...)...)
	pr.cmd.Stdout = &firstLine{w: pr.out, ready: pr.ready}
	pr.cmd.Stderr = pr.out
	require.NoError(t, pr.cmd.Start())
	go func() {
		_ = pr.cmd.Wait() // the exit status is in ProcessState
		pr.state, pr.exitedAt = pr.cmd.ProcessState, time.Now()
		close(pr.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-pr.exited:
		default:
			_ = pr.cmd.Process.Kill()
			select {
			case <-pr.exited:
			case <-time.After(10 * time.Second):
				t.Errorf("%s: not reaped 10s after SIGKILL", name)
			}
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, pr.out.String())
		}
	})
	select {
	case <-pr.ready:
	case <-pr.exited:
		t.Fatalf("%s exited at start (%s):\n%s", name, pr.state, pr.out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s printed nothing within 60s:\n%s", name, pr.out.String())
	}
	return pr
}

// signal sends sig to the process.
func (pr *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, pr.cmd.Process.Signal(sig), "%s: send %s", pr.name, sig)
}

// wait waits at most d for the process to exit.
func (pr *process) wait(t *testing.T, d time.Duration) *os.ProcessState {
	t.Helper()
	waitFor(t, pr.exited, d, pr.name+" did not exit", pr.out.String)
	return pr.state
}

// firstLine writes to w and closes ready at the first newline.
type firstLine struct {
	w     io.Writer
	ready chan struct{}
	once  sync.Once
}

func (f *firstLine) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, '\n') >= 0 {
		f.once.Do(func() { close(f.ready) })
	}
	return f.w.Write(p)
}
