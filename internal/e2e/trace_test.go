package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/telemetry"
	"github.com/hookstream/hookstream/scheduler/schedulertest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// spans keeps the finished spans of the traces a test asked to watch; the
// e2e tests share one tracer provider, so each test watches its own trace.
var spans = &spanRecorder{watched: map[trace.TraceID][]sdktrace.ReadOnlySpan{}}

func init() {
	telemetry.Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
}

type spanRecorder struct {
	mu      sync.Mutex
	watched map[trace.TraceID][]sdktrace.ReadOnlySpan
}

func (r *spanRecorder) watch(id trace.TraceID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watched[id] = nil
}

func (r *spanRecorder) of(id trace.TraceID) []sdktrace.ReadOnlySpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sdktrace.ReadOnlySpan(nil), r.watched[id]...)
}

func (r *spanRecorder) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (r *spanRecorder) OnEnd(s sdktrace.ReadOnlySpan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if got, ok := r.watched[s.SpanContext().TraceID()]; ok {
		r.watched[s.SpanContext().TraceID()] = append(got, s)
	}
}
func (r *spanRecorder) Shutdown(context.Context) error   { return nil }
func (r *spanRecorder) ForceFlush(context.Context) error { return nil }

// traceparentOf parses a receiver's traceparent header.
func traceparentOf(t *testing.T, r request) (trace.TraceID, trace.SpanID) {
	t.Helper()
	parts := strings.Split(r.Header.Get("traceparent"), "-")
	require.Len(t, parts, 4, "traceparent %q", r.Header.Get("traceparent"))
	tid, err := trace.TraceIDFromHex(parts[1])
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex(parts[2])
	require.NoError(t, err)
	return tid, sid
}

// One event, published inside an HRMS sync's span, is one trace from the
// producer to the receiver, across a retry.
func TestOneTraceFromProducerToReceiver(t *testing.T) {
	t.Parallel()
	// A retry under a second waits inside the consumer; one of a second or
	// more is a scheduled message, which must carry the trace too.
	for _, retry := range []time.Duration{10 * time.Millisecond, 1500 * time.Millisecond} {
		t.Run(retry.String(), func(t *testing.T) {
			t.Parallel()
			oneTrace(t, retry)
		})
	}
}

func oneTrace(t *testing.T, retry time.Duration) {
	e := start(t, options{schedule: []time.Duration{retry}})
	var calls atomic.Int32
	rc := newReceiver(t, func(_ int, r request) int {
		if r.Event.Type == "sync.started" && calls.Add(1) == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	e.createWebhook(rc.URL+"/hooks/tok_in_the_path", []string{"sync.*"}, nil)

	ctx, root := otel.Tracer("hrms-sync").Start(context.Background(), "hrms sync session")
	tid := root.SpanContext().TraceID()
	spans.watch(tid)
	e.publishCtx(ctx, syncStarted("org_1"))
	root.End()
	first, second := rc.next(t), rc.next(t)
	e.settle()

	all := spans.of(tid)
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range all {
		byID[s.SpanContext().SpanID()] = s
	}
	find := func(name string, kind trace.SpanKind) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range all {
			if s.Name() == name && s.SpanKind() == kind {
				out = append(out, s)
			}
		}
		return out
	}
	parentOf := func(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
		p, ok := byID[s.Parent().SpanID()]
		require.True(t, ok, "%s has its parent in the trace", s.Name())
		return p
	}
	pub := find("send EVENTS", trace.SpanKindProducer)
	require.Len(t, pub, 1)
	require.Equal(t, root.SpanContext().SpanID(), pub[0].Parent().SpanID(), "the producer joins the caller's trace")
	route := find("process EVENTS", trace.SpanKindConsumer)
	require.Len(t, route, 1)
	require.Equal(t, pub[0].SpanContext().SpanID(), parentOf(route[0]).SpanContext().SpanID())
	fan := find("send DELIVERIES", trace.SpanKindProducer)
	require.Len(t, fan, 1)
	require.Equal(t, route[0].SpanContext().SpanID(), parentOf(fan[0]).SpanContext().SpanID())
	attempts := find("process DELIVERIES", trace.SpanKindConsumer)
	require.Len(t, attempts, 2, "one per attempt")
	posts := find(http.MethodPost, trace.SpanKindClient)
	require.Len(t, posts, 2)
	for _, p := range posts {
		attrs := attribute.NewSet(p.Attributes()...)
		full, _ := attrs.Value("url.full")
		require.Equal(t, rc.URL+"/REDACTED", full.AsString(), "the path may hold a credential")
	}

	// The receiver's traceparent is the HTTP client span of each attempt, in
	// this trace; the retry continues from the first attempt.
	for i, got := range []request{first, second} {
		gotTrace, gotSpan := traceparentOf(t, got)
		require.Equal(t, tid, gotTrace, "request %d belongs to the trace", i+1)
		post, ok := byID[gotSpan]
		require.True(t, ok, "request %d's parent span is recorded", i+1)
		require.Equal(t, trace.SpanKindClient, post.SpanKind())
		consumer := parentOf(post)
		require.Equal(t, "process DELIVERIES", consumer.Name())
		switch i {
		case 0:
			require.Equal(t, fan[0].SpanContext().SpanID(), parentOf(consumer).SpanContext().SpanID())
		case 1:
			require.Equal(t, "process DELIVERIES", parentOf(consumer).Name(), "the retry's attempt follows the first attempt")
		}
	}
	for _, s := range all {
		for _, kv := range s.Attributes() {
			require.NotContains(t, string(kv.Key), "secret")
			require.NotContains(t, kv.Value.Emit(), "whsec_", "no secrets in span attributes")
			require.NotContains(t, kv.Value.Emit(), "sync_session_id", "no payloads in span attributes")
		}
	}
}

// A dead-lettered delivery replayed by the end-of-day run is still in the
// event's trace; so is an event published over HTTP with a traceparent.
func TestTraceSurvivesTheEndOfDayReplayAndJoinsHTTPCallers(t *testing.T) {
	t.Parallel()
	replayClock := schedulertest.NewClock(time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC))
	eod := time.Date(2026, 11, 24, 23, 59, 0, 0, time.UTC)
	e := start(t, options{replayClock: replayClock, schedule: []time.Duration{5 * time.Millisecond}})
	var down atomic.Bool
	down.Store(true)
	rc := newReceiver(t, func(_ int, r request) int {
		if r.Event.Type == "sync.started" && down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	e.createWebhook(rc.URL, []string{"sync.*"}, nil)
	replayClock.WaitForTimer(t, eod)

	// Published over HTTP inside the caller's trace.
	ctx, root := otel.Tracer("hrms-sync").Start(context.Background(), "hrms sync session")
	tid := root.SpanContext().TraceID()
	spans.watch(tid)
	h := http.Header{}
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(h))
	root.End()
	body, err := json.Marshal(map[string]any{"type": "sync.started", "org_id": "o", "data": map[string]any{"sync_session_id": "s", "hrms": "keka"}})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, e.api.URL+"/v1/events", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = h
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	for range 2 { // both attempts fail: dead-lettered
		got := rc.next(t)
		gotTrace, _ := traceparentOf(t, got)
		require.Equal(t, tid, gotTrace, "the HTTP caller's trace")
	}
	e.settle()

	down.Store(false)
	replayClock.Set(eod)
	replayed := rc.next(t)
	gotTrace, gotSpan := traceparentOf(t, replayed)
	require.Equal(t, tid, gotTrace, "the end-of-day replay continues the trace")
	e.settle()

	// The chain: attempt (CONSUMER) → dead-lettering (PRODUCER) → replay
	// (PRODUCER) → the replayed attempt (CONSUMER) → its request (CLIENT).
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	var deadLettering, replay []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		deadLettering, replay = nil, nil
		for _, s := range spans.of(tid) {
			byID[s.SpanContext().SpanID()] = s
			switch {
			case s.Name() == "send DEADLETTERS" && s.SpanKind() == trace.SpanKindProducer:
				deadLettering = append(deadLettering, s)
			case s.Name() == "send DELIVERIES" && s.SpanKind() == trace.SpanKindProducer && replayedSpan(s):
				replay = append(replay, s)
			}
		}
		_, client := byID[gotSpan]
		return len(deadLettering) == 1 && len(replay) == 1 && client
	}, 5*time.Second, 10*time.Millisecond, "one dead-lettering span, one replay span, the replayed request's span")
	parentOf := func(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
		p, ok := byID[s.Parent().SpanID()]
		require.True(t, ok, "%s has its parent in the trace", s.Name())
		return p
	}
	failed := parentOf(deadLettering[0])
	require.Equal(t, "process DELIVERIES", failed.Name())
	require.Equal(t, trace.SpanKindConsumer, failed.SpanKind(), "dead-lettered by the last attempt")
	require.Equal(t, deadLettering[0].SpanContext().SpanID(), replay[0].Parent().SpanID(), "the replay continues from the dead-lettering")
	client := byID[gotSpan]
	require.Equal(t, trace.SpanKindClient, client.SpanKind())
	attempt := parentOf(client)
	require.Equal(t, trace.SpanKindConsumer, attempt.SpanKind())
	require.Equal(t, replay[0].SpanContext().SpanID(), attempt.Parent().SpanID(), "the replayed attempt follows the replay")
	names := map[string]bool{}
	for _, s := range spans.of(tid) {
		names[s.Name()] = true
	}
	require.True(t, names["POST /v1/events"], "the API's SERVER span: %v", names)
}

// replayedSpan reports whether s is a replay's (it has hookstream.replayed).
func replayedSpan(s sdktrace.ReadOnlySpan) bool {
	for _, kv := range s.Attributes() {
		if kv.Key == telemetry.ReplayedKey {
			return true
		}
	}
	return false
}
