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
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/pipeline"
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

// waitFor waits for ch to close, at most d.
func waitFor(t *testing.T, ch <-chan struct{}, d time.Duration, format string, args ...any) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("waited %s: "+format, append([]any{d}, args...)...)
	}
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
	n := len(rc.first)
	rc.waiters = slices.DeleteFunc(rc.waiters, func(w waiter) bool {
		if n >= w.n {
			close(w.ch)
			return true
		}
		return false
	})
}

// reached is closed once n distinct (webhook, event) pairs have arrived.
func (rc *receiver) reached(n int) <-chan struct{} {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ch := make(chan struct{})
	if len(rc.first) >= n {
		close(ch)
	} else {
		rc.waiters = append(rc.waiters, waiter{n: n, ch: ch})
	}
	return ch
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

// got reports whether the webhook at path received the event.
func (rc *receiver) got(path, eventID string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	_, ok := rc.first[path+" "+eventID]
	return ok
}

// requireAll checks that the webhook at path received every event of evs
// and that every repeat carried the webhook-id of the first delivery.
func (rc *receiver) requireAll(t *testing.T, path string, evs []schemas.Event) {
	t.Helper()
	var missing []string
	for i := range evs {
		if !rc.got(path, evs[i].ID) {
			missing = append(missing, evs[i].ID)
		}
	}
	require.Empty(t, missing, "%d events never reached %s", len(missing), path)
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

// published is the outcome of publish.
type published struct {
	retried []error // publishes that failed and were made again
	err     error   // the last error, when publishing gave up
}

// publish publishes evs in chunks with producer.PublishBatch. A chunk that
// fails is published again until it is stored (the events keep their ids,
// so what was already stored comes back as a duplicate, not a second
// delivery), for at most three minutes. before, when set, is called before
// each chunk with how many events are stored so far. It does not touch t,
// so it may run in a goroutine of its own.
func publish(p *producer.Producer, evs []schemas.Event, chunk int, before func(stored int)) published {
	var res published
	deadline := time.Now().Add(3 * time.Minute)
	for i := 0; i < len(evs); i += chunk {
		if before != nil {
			before(i)
		}
		part := evs[i:min(i+chunk, len(evs))]
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			_, err := p.PublishBatch(ctx, part)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				res.err = fmt.Errorf("still failing to publish after 3 minutes: %w", err)
				return res
			}
			res.retried = append(res.retried, err)
		}
	}
	return res
}

// publishAsync runs publish in a goroutine; the outcome arrives on the
// channel.
func publishAsync(p *producer.Producer, evs []schemas.Event, chunk int, before func(stored int)) <-chan published {
	done := make(chan published, 1)
	go func() { done <- publish(p, evs, chunk, before) }()
	return done
}

// waitPublished waits for publishAsync's outcome and requires that every
// event was stored.
func waitPublished(t *testing.T, done <-chan published) published {
	t.Helper()
	select {
	case res := <-done:
		require.NoError(t, res.err)
		return res
	case <-time.After(4 * time.Minute):
		t.Fatal("publishing did not end")
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
			t.Error("pipeline did not stop within 30s")
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
	out    *lockedBuffer
	ready  chan struct{} // closed when it prints its first line
	exited chan struct{} // closed when it has exited; then state is set
	state  *os.ProcessState
}

// startSender runs `hookstream sender --nats natsURL args...` until the
// test ends and waits until it has connected and printed its banner.
func startSender(t *testing.T, name, natsURL string, args ...string) *process {
	t.Helper()
	require.NotEmpty(t, binary, "the hookstream binary was not built")
	pr := &process{name: name, out: &lockedBuffer{}, ready: make(chan struct{}), exited: make(chan struct{})}
	pr.cmd = exec.Command(binary, append([]string{"sender", "--nats", natsURL, "--egress-allow-loopback", "--log-level", "error"}, args...)...)
	pr.cmd.Stdout = &firstLine{w: pr.out, ready: pr.ready}
	pr.cmd.Stderr = pr.out
	require.NoError(t, pr.cmd.Start())
	go func() {
		_ = pr.cmd.Wait() // the exit status is in ProcessState
		pr.state = pr.cmd.ProcessState
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
	waitFor(t, pr.exited, d, "%s did not exit:\n%s", pr.name, pr.out.String())
	return pr.state
}

// lockedBuffer is a bytes.Buffer safe for the writers exec starts.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
