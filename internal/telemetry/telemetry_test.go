package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/hookstream/hookstream/internal/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func remote(t *testing.T) context.Context {
	t.Helper()
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	require.NoError(t, err)
	return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))
}

func TestLogLinesCarryTheTrace(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "sender")
	logger.InfoContext(remote(t), "delivery dead-lettered", "delivery_id", "evt_1:wh_1")
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", line["trace_id"])
	require.Equal(t, "00f067aa0ba902b7", line["span_id"])
	require.Equal(t, "sender", line["component"])

	buf.Reset()
	logger.Info("no event here")
	require.NotContains(t, buf.String(), "trace_id")
}

// traceparent travels in NATS headers in lowercase, and comes back out.
func TestHeaderCarrier(t *testing.T) {
	t.Parallel()
	h := nats.Header{}
	telemetry.Inject(remote(t), h)
	require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", h.Get("traceparent"))
	require.Empty(t, h.Get("Traceparent"), "lowercase, as W3C asks")
	sc := trace.SpanContextFromContext(telemetry.Extract(context.Background(), h))
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", sc.TraceID().String())

	// A Go HTTP client's canonical spelling is read too.
	canon := nats.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	require.True(t, trace.SpanContextFromContext(telemetry.Extract(context.Background(), canon)).IsValid())
}

// With no provider installed, Start makes no span: it hands back the span
// the context carries, so traceparent still propagates.
func TestStartWithoutAProviderPropagates(t *testing.T) {
	t.Parallel()
	ctx := remote(t)
	got, span := telemetry.Start(ctx, "process DELIVERIES", trace.SpanKindConsumer, func() []attribute.KeyValue {
		t.Error("attributes are not built when tracing is off")
		return nil
	})
	require.Equal(t, ctx, got)
	require.Equal(t, trace.SpanContextFromContext(ctx), span.SpanContext())
}
