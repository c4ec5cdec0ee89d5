package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of Hookstream's spans.
const ScopeName = "github.com/hookstream/hookstream"

// tracer is Hookstream's tracer from the provider Install installed last
// (otel's global delegating tracer follows only the first provider set, so
// it is taken afresh from each).
var tracer atomic.Pointer[trace.Tracer]

func init() {
	t := otel.Tracer(ScopeName)
	tracer.Store(&t)
}

// active is set once a tracer provider is installed (Install).
var active atomic.Bool

// Tracer returns Hookstream's tracer.
func Tracer() trace.Tracer { return *tracer.Load() }

// Install makes tp the global tracer provider and turns span recording on
// (off again for a trace/noop provider).
func Install(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	t := tp.Tracer(ScopeName)
	tracer.Store(&t)
	_, isNoop := tp.(noop.TracerProvider)
	active.Store(!isNoop)
}

// Active reports whether a tracer provider is installed.
func Active() bool { return active.Load() }

// Start starts a span of the given kind with the attributes attrs returns.
// When no tracer provider is installed (the default) it starts nothing and
// does not call attrs: it returns ctx and the span ctx already carries —
// whose traceparent still propagates, so a caller's trace continues to the
// receiver — at no cost on the hot path.
func Start(ctx context.Context, name string, kind trace.SpanKind, attrs func() []attribute.KeyValue) (context.Context, trace.Span) {
	if !active.Load() {
		return ctx, trace.SpanFromContext(ctx)
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(kind)}
	if attrs != nil {
		opts = append(opts, trace.WithAttributes(attrs()...))
	}
	return Tracer().Start(ctx, name, opts...)
}

func init() {
	// Propagation works with or without an exporter.
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
}

// Enabled reports whether the environment configures trace export.
func Enabled() bool {
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if os.Getenv(k) != "" {
			return os.Getenv("OTEL_TRACES_EXPORTER") != "none"
		}
	}
	return false
}

// Setup installs a tracer provider exporting as the OTEL_* environment says
// (OTLP over gRPC or HTTP, the console, or none), for a process running
// role. It does nothing when Enabled is false. shutdown flushes and stops
// the exporter.
func Setup(ctx context.Context, role, version string) (shutdown func(context.Context) error, err error) {
	if !Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("telemetry: span exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(envOr("OTEL_SERVICE_NAME", "hookstream")),
		semconv.ServiceVersion(version),
		attribute.String("hookstream.role", role),
	))
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	Install(tp)
	return tp.Shutdown, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Header adapts a nats.Header to a propagation.TextMapCarrier. It writes
// lowercase keys, as W3C trace context asks, and reads them back exactly,
// falling back to the canonical spelling a Go HTTP client would use.
type Header nats.Header

// Get implements propagation.TextMapCarrier.
func (h Header) Get(key string) string {
	if v := nats.Header(h).Get(strings.ToLower(key)); v != "" {
		return v
	}
	return nats.Header(h).Get(textproto.CanonicalMIMEHeaderKey(key))
}

// Set implements propagation.TextMapCarrier.
func (h Header) Set(key, value string) { h[strings.ToLower(key)] = []string{value} }

// Keys implements propagation.TextMapCarrier.
func (h Header) Keys() []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	return out
}

// Inject writes ctx's trace context into h.
func Inject(ctx context.Context, h nats.Header) {
	otel.GetTextMapPropagator().Inject(ctx, Header(h))
}

// Extract returns ctx carrying the trace context found in h, if any.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, Header(h))
}

// Messaging attributes of a span about a NATS message, after the OpenTelemetry
// messaging semantic conventions.
func Messaging(op semconvOp, stream, subject string) []attribute.KeyValue {
	return []attribute.KeyValue{
		semconv.MessagingSystemKey.String("nats"),
		op.kv,
		semconv.MessagingDestinationName(subject),
		attribute.String("messaging.nats.stream", stream),
	}
}

type semconvOp struct{ kv attribute.KeyValue }

// Messaging operations.
var (
	Send    = semconvOp{semconv.MessagingOperationTypeSend}
	Process = semconvOp{semconv.MessagingOperationTypeProcess}
)

// Attribute keys of Hookstream's own.
const (
	EventIDKey    = attribute.Key("hookstream.event.id")
	EventTypeKey  = attribute.Key("hookstream.event.type")
	TenantKey     = attribute.Key("hookstream.tenant.id")
	WebhookKey    = attribute.Key("hookstream.webhook.id")
	DeliveryKey   = attribute.Key("hookstream.delivery.id")
	AttemptKey    = attribute.Key("hookstream.attempt")
	OutcomeKey    = attribute.Key("hookstream.outcome")
	FanOutKey     = attribute.Key("hookstream.fanout")
	ReplayedKey   = attribute.Key("hookstream.replayed")
	QuarantineKey = attribute.Key("hookstream.quarantined")
)
